"""The model catalog: the built-in list merged with the account's live list (docs/service.md §3.3).

The live list is fetched in the background with a pool token and cached; requests
only ever read the cache, so /v1/models never waits on the upstream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

from .model_map import ModelMap
from .models import BUILTIN_MODELS, merge_models
from .tokens import NoTokens
from .upstream.types import ModelInfo

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[list[ModelInfo]]]


class ModelCatalog:
    """Holds the last good live list and refreshes it at most every `max_age` seconds."""

    def __init__(
        self,
        fetch: Fetch,
        max_age: float,
        always: tuple[ModelInfo, ...] = (),
        model_map: ModelMap | None = None,
    ) -> None:
        self._fetch = fetch
        self.model_map = model_map or ModelMap({})
        self.max_age = max_age
        # Ids the dialect always understands (the agent router `auto`), live list or not.
        self.always = always
        self.live: list[ModelInfo] = list(always)
        self.fetched_at: float | None = None
        self.last_error: str | None = None
        self._models = merge_models(self.live)
        self._ids = frozenset(m.id for m in self._models)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def models(self) -> list[ModelInfo]:
        return self._models

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._ids

    def resolve(self, model_id: str, any_claude: bool) -> str | None:
        """The Cursor id to send for what a client asked (model_map.py), or None."""
        return self.model_map.resolve(model_id, self._ids, any_claude=any_claude)

    def stale(self) -> bool:
        return self.fetched_at is None or time.monotonic() - self.fetched_at >= self.max_age

    async def refresh(self) -> None:
        """Fetch once; a failure keeps the last good list and is logged."""
        async with self._lock:
            if not self.stale():
                return
            try:
                live = await self._fetch()
            except NoTokens:
                return  # nothing to ask with yet; try again on the next request
            except Exception as exc:  # any failure keeps the cache; the reason is logged
                self.last_error = str(exc) or type(exc).__name__
                # Retry no sooner than a minute, not on every request.
                self.fetched_at = time.monotonic() - self.max_age + min(60.0, self.max_age)
                log.warning("live model list not refreshed: %s", self.last_error)
                return
            known = {m.id for m in live}
            self.live = live + [m for m in self.always if m.id not in known]
            self.last_error = None
            self.fetched_at = time.monotonic()
            self._models = merge_models(self.live)
            self._ids = frozenset(m.id for m in self._models)

    def refresh_soon(self) -> None:
        """Start a background refresh if the cache is stale and none is running."""
        if self.stale() and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self.refresh())

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task


BUILTIN_IDS = frozenset(mid for mid, _ in BUILTIN_MODELS)
