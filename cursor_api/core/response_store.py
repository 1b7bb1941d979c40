"""Stored Responses-API answers: for `previous_response_id` and `GET /v1/responses/{id}`.

In memory, bounded in count and age (RESPONSES_MAX, RESPONSES_TTL_S): a restart or
another instance does not have them, and a client that needs that sends the whole
input instead (Codex does, with `store: false`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class StoredResponse:
    """One answer: the response object, and the items a follow-up continues from."""

    body: dict[str, Any]
    # This request's input items (after its own previous_response_id) and its output.
    items: list[Any]
    expires: float


class ResponseStore:
    """Oldest out first when full; an expired entry is gone on its next look-up."""

    def __init__(self, ttl_s: float, limit: int) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, response_id: str, body: dict[str, Any], items: list[Any]) -> None:
        self._entries[response_id] = StoredResponse(body, items, time.monotonic() + self.ttl_s)
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            del self._entries[response_id]
            return None
        return entry
