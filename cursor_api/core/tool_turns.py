"""Opening a tool-calling turn: resume the parked run its results answer, or open a new
one; and parking the run again when the answer ends in calls (core/parked.py)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from aiohttp import web

from .. import keys
from ..auth import Caller
from ..config import Config
from ..logs import LogEntry
from ..tool_request import call_ids_in, tools_not_supported
from ..upstream.dialects.base import EventStream
from ..upstream.errors import UpstreamError
from ..upstream.types import ChatTurn, Event, Text, Thinking, ToolCall
from .failover import open_events
from .parked import ParkedRun
from .tools import ONE_AT_A_TIME, CallBook, LiveTurn, pending_results, wants_tools

log = logging.getLogger(__name__)

CONTENT = (Text, Thinking, ToolCall)


def check_dialect(turn: ChatTurn, config: Config) -> None:
    """Tools exist only in the agent dialect: 400 before any upstream call elsewhere."""
    if config.upstream_protocol != "agent" and wants_tools(turn):
        raise tools_not_supported(config.upstream_protocol, "tools" if turn.tools else "messages")


def release_parked(app: web.Application, body: object) -> None:
    """Close the parked runs a refused request's tool calls or results name."""
    runs = app[keys.parked_key]
    if len(runs):
        runs.release(call_ids_in(body))


def owner(caller: Caller) -> str:
    """Who may resume a parked run: the same tier, and the same own token if any."""
    return f"{caller.tier}:{caller.token.token if caller.token is not None else ''}"


async def open_turn(
    app: web.Application,
    caller: Caller,
    turn: ChatTurn,
    entry: LogEntry,
    stack: AsyncExitStack,
    *,
    check: bool,
) -> tuple[EventStream, list[list[Event]], LiveTurn | None]:
    """The turn's events: from the parked run its results answer, or from a new run.

    A tool-calling turn is read through a LiveTurn (returned too, for parking).
    """
    if config_protocol(app) == "agent" and wants_tools(turn):
        resumed = await _resume(app, caller, turn, entry, stack, check=check)
        if resumed is not None:
            return resumed[0], resumed[1], resumed[0]
        # Results for calls of a run that is not the one waiting: that run's
        # conversation has moved on.
        app[keys.parked_key].release({m.tool_call_id for m in turn.messages if m.role == "tool"})
    events, early = await open_events(app, caller, turn, entry, stack, check=check)
    if not turn.tools:
        return events, early, None
    live = LiveTurn(events, early)
    stack.push_async_callback(live.close)
    return live, early, live


def config_protocol(app: web.Application) -> str:
    return app[keys.config_key].upstream_protocol


async def _resume(
    app: web.Application,
    caller: Caller,
    turn: ChatTurn,
    entry: LogEntry,
    stack: AsyncExitStack,
    *,
    check: bool,
) -> tuple[LiveTurn, list[list[Event]]] | None:
    """Send the results to the parked run waiting for them and read on from it."""
    results = pending_results(turn)
    if not results:
        return None
    run = app[keys.parked_key].take(results, owner(caller), turn.model)
    if run is None:
        return None
    if not run.live.alive:
        log.info("the parked run ended while it waited; resuming cold")
        await run.close()
        return None
    entry.token_info = run.token
    early: list[list[Event]] = []
    try:
        # Verbatim, in the order the calls were made (docs/agent-protocol.md §12.3).
        for call in run.shown:
            await call.answer(results[call.id], False)
        for call in run.held:
            await call.refuse(ONE_AT_A_TIME)
        run.live.read_on()
        if check:
            async for batch in run.live:
                early.append(batch)
                if any(type(e) in CONTENT for e in batch):
                    break
    except UpstreamError as exc:
        # Nothing has reached the client yet: a new run gives the same answer.
        app[keys.metrics_key].upstream_error(exc)
        log.info("the parked run failed on resume (%s); resuming cold", exc)
        await run.close()
        return None
    stack.push_async_callback(run.close)
    log.info("tool results sent to the parked run (%d calls)", len(run.shown))
    return run.live, early


def park(
    app: web.Application,
    caller: Caller,
    turn: ChatTurn,
    entry: LogEntry,
    stack: AsyncExitStack,
    live: LiveTurn,
    calls: CallBook,
) -> None:
    """Keep the run open for the results of the calls just shown, when it can wait."""
    if not live.alive or not calls.parkable:
        return
    run = ParkedRun(
        live=live,
        stack=stack.pop_all(),
        shown=list(calls.shown),
        held=list(calls.held),
        token=entry.token_info,
        owner=owner(caller),
        model=turn.model,
    )
    app[keys.parked_key].park(run)
