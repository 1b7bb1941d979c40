"""The request log: an in-process ring buffer of one structured entry per chat request.

Anyone can make a JWT-shaped key that passes as "the caller's own token" until the
upstream refuses it, so such callers' entries wait in a small ring of their own and
join the main one only once the upstream has accepted the token (content came, or
the answer was delivered): a flood of made-up keys can evict only its own kind.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .key_masks import key_hint
from .token_shape import is_api_key

Status = Literal["pending", "success", "failed"]


@dataclass(slots=True)
class TokenInfo:
    """Which Cursor token served a request."""

    token: str
    checksum: str
    alias: str | None = None

    def as_dict(self) -> dict[str, object]:
        # A dashboard API key is a long-lived secret: the log names it, never shows it.
        token = key_hint(self.token) if is_api_key(self.token) else self.token
        return {"token": token, "checksum": self.checksum, "alias": self.alias}


@dataclass(slots=True)
class LogEntry:
    """One chat request, created `pending` and completed once."""

    id: int
    timestamp: str
    model: str
    stream: bool
    token_info: TokenInfo | None = None
    prompt: str | None = None
    status: Status = "pending"
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    total: float | None = None
    usage: dict[str, int] | None = None
    # The request's user / safety_identifier / prompt_cache_key and metadata.* tags.
    tags: dict[str, str] | None = None
    # Shared with the server log and the x-request-id header (README, Logs).
    request_id: str = ""
    # The Cursor model the client's id resolved to (MODEL_MAP, Anthropic tiers).
    upstream_model: str | None = None
    # The client API that served it: openai_chat, anthropic_messages, openai_responses.
    frontend: str = ""
    # The HTTP status the client got; 499 when it hung up before the answer was complete.
    http_status: int | None = None
    # Bytes of answer written to the client (streams: every SSE event).
    sent: int = 0
    # A caller's own token the upstream has not accepted yet: kept in the small ring.
    unverified: bool = False

    def mark_first(self) -> None:
        """Record time to first content (only the first call counts)."""
        if self.first is None:
            self.first = time.perf_counter() - self.started

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "timestamp": self.timestamp,
            "model": self.model,
            "token_info": self.token_info.as_dict() if self.token_info else None,
            "prompt": self.prompt,
            "timing": {"total": self.total, "first": self.first},
            "stream": self.stream,
            "status": self.status,
            "error": self.error,
            "usage": self.usage,
            "tags": self.tags,
            "frontend": self.frontend,
        }


# The status recorded for a client that hung up before its answer was complete
# (nginx's "client closed request"): the status line it was sent, if any, says less.
CLIENT_GONE = 499


class RequestLog:
    """Bounded log with running counters; the oldest entry goes first when full.

    `on_finish` callbacks see each entry once, when it is completed: the metrics
    count requests there, so every front-end and every path is counted alike.

    `unverified_limit` bounds the separate ring of entries made with a caller's own,
    not yet accepted token (module docstring).
    """

    def __init__(self, limit: int, unverified_limit: int = 100) -> None:
        self.on_finish: list[Callable[[LogEntry], None]] = []
        self._entries: deque[LogEntry] = deque(maxlen=limit)
        self._unverified: deque[LogEntry] = deque(maxlen=unverified_limit)
        self._next_id = 1
        self.total = 0
        self.active = 0
        self.errors = 0

    def start(
        self,
        model: str,
        stream: bool,
        *,
        request_id: str = "",
        frontend: str = "",
        unverified: bool = False,
    ) -> LogEntry:
        """Open a pending entry; `unverified` for a caller's own token (module docstring)."""
        entry = LogEntry(
            id=self._next_id,
            timestamp=datetime.now().astimezone().isoformat(timespec="milliseconds"),
            model=model,
            stream=stream,
            request_id=request_id,
            frontend=frontend,
            unverified=unverified,
        )
        self._next_id += 1
        self.total += 1
        self.active += 1
        (self._unverified if unverified else self._entries).append(entry)
        return entry

    def finish(self, entry: LogEntry, error: str | None = None, *, status: int = 200) -> None:
        """Complete an entry once; later calls are ignored so every path may call it.

        `status` is the HTTP status the client got (a stream's in-band error keeps
        the 200 it was sent with).
        """
        if entry.status != "pending":
            return
        entry.total = time.perf_counter() - entry.started
        entry.http_status = status
        if error is None:
            entry.status = "success"
        else:
            entry.status = "failed"
            entry.error = error
            self.errors += 1
        self.active -= 1
        if entry.unverified and (error is None or entry.first is not None):
            # The upstream took the token: the entry counts like anyone's now.
            entry.unverified = False
            if entry in self._unverified:
                self._unverified.remove(entry)
            self._entries.append(entry)
        for callback in self.on_finish:
            callback(entry)

    def __iter__(self) -> Iterator[LogEntry]:
        if not self._unverified:
            return iter(self._entries)
        return iter(sorted((*self._entries, *self._unverified), key=lambda e: e.id))

    def __len__(self) -> int:
        return len(self._entries) + len(self._unverified)

    def for_token(self, token: str) -> list[LogEntry]:
        return [e for e in self if e.token_info and e.token_info.token == token]
