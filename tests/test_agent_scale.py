"""Load at agent scale (issue 16 item 17): 1,000 concurrent streams against the fake.

The bench cell (`python bench/agent_scale.py`) runs them for 60 s each with the
service's default UPSTREAM_KEEPALIVE_S; here they last 2 s and idle upstream
connections are kept 1 s, so the suite stays short. The service runs alone in its
own process over the agent dialect's HTTP/1.1 transport.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench" / "agent_scale.py"


def _bench() -> Any:
    """bench/ is scripts, not a package: load the cell's module from its file."""
    spec = importlib.util.spec_from_file_location("agent_scale", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclass looks its module up in sys.modules.
    sys.modules.setdefault("agent_scale", module)
    spec.loader.exec_module(module)
    return module


async def test_1000_concurrent_streams_then_back_to_idle() -> None:
    # settle_limit: idle connections close within twice the keep-alive; the rest is
    # slack for a loaded machine. Past it, run() raises.
    figures = await _bench().run(streams=1000, seconds=2.0, keepalive=1.0, settle_limit=15.0)
    print(f"\n{figures}")
    assert figures.errors == 0
    assert figures.lost == 0
    assert figures.peak_rss_mb <= 150
    assert figures.active_after == 0
    # The streams were open at once (a client connection each, at least) ...
    assert figures.peak_fds >= figures.streams
    # ... and the service let go of all of them: descriptors and tasks are back to idle.
    assert figures.upstream_conns_after == 0
    assert figures.fds_after <= figures.fds_idle
    assert figures.tasks_after <= figures.tasks_idle
