"""The rate limit on token-file reloads anyone may ask for."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from .pool import TokenPool
from .tokens import TokenStore

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
        self.interval = interval
        self.clock = clock
        self.reloads = 0
        self._last = -math.inf
        self._lock = asyncio.Lock()

    def wait_s(self) -> float:
        """Seconds until the next reload is allowed; 0 when it is now."""
        return max(0.0, self._last + self.interval - self.clock())

    async def reload(self, store: TokenStore, pool: TokenPool) -> bool:
        """Reload both files unless one started within the interval; True when it ran."""
        if self.wait_s() > 0:
            return False
        # Taken before the first await, so concurrent callers see it at once.
        self._last = self.clock()
        async with self._lock:
            warnings = await asyncio.to_thread(store.load)
            pool.reloaded()
            self.reloads += 1
        for warning in warnings:
            log.warning("%s", warning)
        return True
