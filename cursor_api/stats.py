"""Memory and CPU figures of this process for /health, from the standard library only."""

from __future__ import annotations

import os
import time


class SystemStats:
    """Memory and CPU use of this process, sampled in the background so /health never waits."""

    def __init__(self) -> None:
        self.rss = 0
        self.cpu_percent = 0.0
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def sample(self) -> None:
        """Read RSS and the CPU share (percent of one core) since the previous sample."""
        self.rss = rss_bytes()
        wall, cpu = time.monotonic(), time.process_time()
        if wall - self._wall > 0:
            self.cpu_percent = round(100.0 * (cpu - self._cpu) / (wall - self._wall), 2)
        self._wall, self._cpu = wall, cpu


def rss_bytes() -> int:
    """Resident set size from /proc; peak RSS from `resource` where /proc is missing."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak if os.uname().sysname == "Darwin" else peak * 1024
