"""The idle limit used by the upstream read loops."""

from __future__ import annotations

import asyncio
import time

import pytest

from cursor_api.upstream.idle import IdleTimeout


async def test_touches_keep_it_alive_past_the_limit() -> None:
    started = time.monotonic()
    async with IdleTimeout(0.1) as idle:
        for _ in range(6):
            await asyncio.sleep(0.05)
            idle.touch()
    assert time.monotonic() - started >= 0.3


async def test_silence_raises_timeout_error() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with IdleTimeout(0.1) as idle:
            idle.touch()
            await asyncio.sleep(5)
    assert time.monotonic() - started < 1


async def test_limit_can_change_inside() -> None:
    with pytest.raises(TimeoutError):
        async with IdleTimeout(5) as idle:
            idle.limit = 0.05
            idle.touch()
            await asyncio.sleep(5)


async def test_outside_cancellation_is_not_turned_into_timeout() -> None:
    async def reader() -> None:
        async with IdleTimeout(5):
            await asyncio.sleep(5)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_resting_stops_the_clock() -> None:
    async with IdleTimeout(0.05) as idle:
        idle.rest()
        await asyncio.sleep(0.2)  # a slow consumer, not a silent upstream
        idle.touch()
    assert not idle.expired
