"""A gate for endpoints anyone may call: at most one pass per interval."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class IntervalGate:
    """Lets one caller through per `interval` seconds; the others learn how long to wait."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last = -math.inf

    def wait_s(self) -> float:
        """Seconds until the gate opens; 0 when it is open now."""
        return max(0.0, self._last + self.interval - self.clock())

    def enter(self) -> bool:
        """Pass (and close the gate for `interval`) when open; False when not."""
        if self.wait_s() > 0:
            return False
        self._last = self.clock()
        return True
