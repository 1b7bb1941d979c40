"""The rate limit on token-file reloads anyone may ask for."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .pool import TokenPool
from .ratelimit import IntervalGate
from .token_store import TokenStore

log = logging.getLogger(__name__)

# GET /update-tokeninfo needs no key, so anyone can call it: at most one reload a
# second; a call within the second after one started is answered 429 without
# touching the disk (the caller learns its edit was not read, and when to retry).
RELOAD_INTERVAL_S = 1.0


class Reloader:
    """Rate-limits unauthenticated reloads: at most one per `interval` seconds."""

    def __init__(
        self, interval: float = RELOAD_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gate = IntervalGate(interval, clock)
        self.reloads = 0
        self._lock = asyncio.Lock()

    async def reload(self, store: TokenStore, pool: TokenPool) -> bool:
        """Reload both files unless one started within the interval; True when it ran."""
        # Entered before the first await, so concurrent callers see it at once.
        if not self.gate.enter():
            return False
        async with self._lock:
            warnings = await asyncio.to_thread(store.load)
            pool.reloaded()
            self.reloads += 1
        for warning in warnings:
            log.warning("%s", warning)
        return True
