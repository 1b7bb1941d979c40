"""Serving one request of any front-end: the log entry, the turn, and the answer.

The log entry is opened once an authenticated request arrives and finished in one
place, `serve`, whatever happens after: a refused body, an upstream error before
or after the 200, a client that left, an internal error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import TypeVar

from aiohttp import web

from .. import keys
from ..auth import Caller
from ..drain import shutdown_error
from ..errors import ApiError
from ..images import ImageLoader
from ..logs import CLIENT_GONE, LogEntry, TokenInfo
from ..models import LONG_CONTEXT_MODELS
from ..request_id import request_id_of
from ..routes.common import caller_of, read_json
from ..structured import extract
from ..upstream.dialects.base import EventStream
from ..upstream.errors import UpstreamError
from ..upstream.types import ChatTurn, Event, Text, Thinking, ToolCall
from .answer import Answer
from .failover import upstream_api_error, upstream_failed
from .frontend import FrontEnd, StreamRenderer
from .limits import Limits
from .sse import SSEResponse
from .tool_turns import check_dialect, open_turn, park, release_parked
from .turn import Ask, Result, TurnContext

log = logging.getLogger(__name__)

W = TypeVar("W")

MODEL_LOG_LIMIT = 200
MIB = 1024 * 1024

# The log entry's error for a client that hung up (status CLIENT_GONE).
DISCONNECTED = "client disconnected"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handler(front: FrontEnd[W]) -> Handler:
    """The aiohttp handler serving `front`'s route."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await serve(request, front)

    return handle


async def serve(request: web.Request, front: FrontEnd[W]) -> web.StreamResponse:
    """Answer one request; its log entry is finished here and only here."""
    try:
        caller = caller_of(request)
    except ApiError as exc:
        return _error(front, exc)
    logs = request.app[keys.logs_key]
    # Opened before validation so a refused body or model shows up as a failed entry.
    entry = logs.start(
        "",
        False,
        request_id=request_id_of(request),
        frontend=front.name,
        unverified=caller.token is not None,
    )
    if caller.token is not None:
        token = caller.token
        entry.token_info = TokenInfo(token.token, token.checksum, token.alias)
    error: str | None = None
    drain = request.app[keys.drain_key]
    # The HTTP status the client got, for the log entry and the metrics.
    status = 500
    try:
        with drain.track():
            resp, error = await _serve(request, front, caller, entry)
        status = CLIENT_GONE if error == DISCONNECTED else resp.status
        return resp
    except asyncio.CancelledError:
        if not drain.cutting:
            error, status = DISCONNECTED, CLIENT_GONE
            raise
        # Cut at shutdown before the answer began: say so (a stream says it in-band).
        _uncancel()
        error, status = shutdown_error().message, shutdown_error().status
        return front.error(shutdown_error())
    except ApiError as exc:
        resp = _error(front, exc)
        # The status the client got: a front-end may spell it its own way (Anthropic's 529).
        error, status = exc.message, resp.status
        return resp
    except Exception as exc:
        error = f"internal error: {exc!r}"
        raise
    finally:
        logs.finish(entry, error, status=status)


def _error(front: FrontEnd[W], exc: ApiError) -> web.Response:
    """The front-end's error body with the retry advice every client API shares."""
    resp = front.error(exc)
    resp.headers.update(exc.headers())
    return resp


async def _serve(
    request: web.Request, front: FrontEnd[W], caller: Caller, entry: LogEntry
) -> tuple[web.StreamResponse, str | None]:
    """Validate, build the turn, open it upstream and answer; returns the in-stream error."""
    app = request.app
    body = await read_json(request)
    if isinstance(body, dict):
        # Best effort for a body refused below; capped so the ring stays small.
        entry.model = str(body.get("model", ""))[:MODEL_LOG_LIMIT]
        entry.stream = body.get("stream") is True
    try:
        ask = front.parse(body)
    except ApiError:
        # A refused follow-up must not leave the run it answers parked.
        release_parked(app, body)
        raise
    entry.model, entry.stream = ask.model[:MODEL_LOG_LIMIT], ask.stream
    entry.tags = dict(ask.tags) or None
    settings = app[keys.settings_key]
    upstream_model = _upstream_model(app, ask)
    entry.upstream_model = upstream_model
    turn = await _turn(app, front, ask, upstream_model)
    limits = Limits(ask.stop, ask.max_tokens, counted=app[keys.dialect_key].counts_tokens)
    answer = Answer(entry, ask.raw_reasoning, turn.parallel_tool_calls, limits)
    async with AsyncExitStack() as stack:
        # Read up to the first content before answering 200, so an upstream error
        # becomes a proper HTTP error (docs/service.md §3.4 ENABLE_STREAM_CHECK).
        check = settings.enable_stream_check or not ask.stream
        events, early, live = await open_turn(app, caller, turn, entry, stack, check=check)
        pooled = caller.token is None
        error: str | None = None
        if not ask.stream or ask.structured is not None:
            # JSON asked for is checked whole before any of it is sent, streamed or not.
            result = await _collect(request, ask, turn, events, early, answer, pooled)
            if not ask.stream:
                resp, error = await _send_now(request, front.answer(ask, result))
            else:
                streamed = await _stream_result(request, front.renderer(ask, settings), result)
                entry.sent, resp = streamed.sent, streamed
        else:
            if check and not any(type(e) in CONTENT for batch in early for e in batch):
                # The stream check read the whole answer and it had no text: a proper
                # HTTP error, before the 200 (issue 14 item 9).
                raise _empty_response()
            out = front.renderer(ask, settings)
            with app[keys.metrics_key].streams_open(front.name).track_inprogress():
                resp, error = await _stream(request, out, turn, events, early, answer)
        if live is not None and error is None and not answer.done:
            # The model waits for its calls' results: keep the run for the follow-up.
            park(app, caller, turn, entry, stack, live, answer.calls)
        return resp, error
    raise AssertionError("unreachable")  # pragma: no cover


def _upstream_model(app: web.Application, ask: Ask[W]) -> str:
    """Cursor's id for the model the client asked for; 404 when it is not served here."""
    settings = app[keys.settings_key]
    upstream_model = app[keys.catalog_key].resolve(ask.model, settings.enable_all_claude)
    if upstream_model is None:
        raise ApiError(
            404,
            f"the model {ask.model!r} does not exist or is not served here: GET /v1/models "
            "lists the models this service offers, and MODEL_MAP can map other ids to them",
            code="model_not_found",
            param="model",
        )
    return upstream_model


async def _turn(
    app: web.Application, front: FrontEnd[W], ask: Ask[W], upstream_model: str
) -> ChatTurn:
    """The front-end's turn, with its images loaded, for `upstream_model`."""
    settings = app[keys.settings_key]
    config = app[keys.config_key]
    loader = ImageLoader(
        app[keys.upstream_key].session,
        settings.vision_ability,
        max_bytes=int(config.image_max_mb * MIB),
        max_total=int(config.images_total_max_mb * MIB),
        max_count=config.images_max_count,
    )
    context = TurnContext(
        default_instructions=app[keys.config_key].default_instructions,
        load_image=loader.load,
        long_context=upstream_model in LONG_CONTEXT_MODELS,
        slow_pool=settings.enable_slow_pool,
    )
    turn = await front.turn(ask, context)
    if turn.max_tokens != ask.max_tokens:
        # The limit goes upstream where the dialect has a field, and makes the agent
        # dialect report its token counts (docs/parameters.md).
        turn = replace(turn, max_tokens=ask.max_tokens)
    if upstream_model != turn.model:
        # The client's own id stays in the answer and the log; Cursor gets its id.
        turn = dataclasses.replace(turn, model=upstream_model)
    check_dialect(turn, app[keys.config_key])
    return turn


CONTENT = (Text, Thinking, ToolCall)


async def _send_now(
    request: web.Request, whole: web.Response
) -> tuple[web.StreamResponse, str | None]:
    """Send a whole answer before the handler returns, so its bytes go with the handler.

    aiohttp keeps a connection's last response until the next request comes: an idle
    kept-alive connection would hold an answer of up to ANSWER_BUFFER_MB.
    """
    body = whole.body
    assert isinstance(body, bytes)
    resp = web.StreamResponse(status=whole.status, headers=whole.headers)
    resp.content_length = len(body)
    try:
        await resp.prepare(request)
        await resp.write(body)
        await resp.write_eof()
    except ConnectionError:
        return resp, DISCONNECTED
    return resp, None


def _empty_response() -> ApiError:
    return ApiError(
        502,
        "the Cursor upstream finished without producing any text; try again or another model",
        type="upstream_error",
        code="empty_response",
    )


async def _collect(
    request: web.Request,
    ask: Ask[W],
    turn: ChatTurn,
    events: EventStream,
    early: list[list[Event]],
    answer: Answer,
    pooled: bool,
) -> Result:
    """The whole answer; a stop string, the token limit or the buffer limit stops it early.

    Past ANSWER_BUFFER_MB (millions of characters) the answer ends as if a token limit
    had been reached (`finish_reason: "length"`): an upstream that never stops must not
    grow the process without bound (docs: README, Errors).
    """
    limit = request.app[keys.config_key].answer_buffer_chars
    try:
        for batch in early:
            answer.take(batch)
        if not answer.done and answer.buffered <= limit:
            async for batch in events:
                answer.take(batch)
                if answer.done or answer.buffered > limit:
                    break
    except UpstreamError as exc:
        upstream_failed(request.app, exc)
        raise upstream_api_error(request.app, exc, pooled) from exc
    answer.flush()
    if answer.buffered > limit and not answer.done:
        answer.cut = True
        log.warning("a non-streamed answer reached ANSWER_BUFFER_MB and was cut there")
    if answer.empty:
        raise _empty_response()
    finish = answer.finish(turn)
    content = "".join(answer.content)
    if answer.cut:
        # The last read may have crossed the limit by a lot: the answer stops at it.
        content = content[: max(0, limit - sum(map(len, answer.reasoning)))]
    if ask.structured is not None and finish.reason == "stop":
        # A cut answer ("length") is returned as it is, as OpenAI does.
        content = extract(content, ask.structured)
    return Result(
        content,
        "".join(answer.reasoning),
        finish,
        tuple(answer.calls.shown),
        tuple(answer.cited.values()),
    )


async def _stream_result(request: web.Request, out: StreamRenderer, result: Result) -> SSEResponse:
    """A collected answer as a stream: its pieces in one write."""
    resp = SSEResponse()
    await resp.prepare(request)
    data = out.start()
    if result.reasoning:
        data += out.thinking(result.reasoning)
    if result.content:
        data += out.text(result.content)
    if result.citations:
        data += out.citations(result.citations)
    for index, call in enumerate(result.tool_calls):
        data += out.tool_call(index, call)
    await resp.send_last(data + out.finish(result.finish))
    return resp


def _uncancel() -> None:
    """The cancellation was shutdown's cut, handled here: the task goes on to answer."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _render(out: StreamRenderer, piece: tuple[str, str], answer: Answer) -> bytes:
    """One read's pieces as the front-end's SSE bytes: thinking, text, then new calls."""
    reasoning, content = piece
    if not reasoning and not answer.calls.fresh:
        return out.text(content) if content else b""
    data = out.thinking(reasoning) if reasoning else b""
    if content:
        data += out.text(content)
    if answer.calls.fresh:
        for index, call in answer.calls.take_fresh():
            data += out.tool_call(index, call)
    return data


async def _stream(
    request: web.Request,
    out: StreamRenderer,
    turn: ChatTurn,
    events: EventStream,
    early: list[list[Event]],
    answer: Answer,
) -> tuple[web.StreamResponse, str | None]:
    """Relay the answer as SSE, one write per network read; returns the in-stream error."""
    resp = SSEResponse()
    await resp.prepare(request)
    ping = out.keepalive()
    if ping:
        resp.ping_every(ping, request.app[keys.config_key].sse_keepalive_s)
    try:
        return await _relay(request, resp, out, turn, events, early, answer)
    finally:
        resp.stop_pings()
        answer.entry.sent = resp.sent


async def _relay(
    request: web.Request,
    resp: SSEResponse,
    out: StreamRenderer,
    turn: ChatTurn,
    events: EventStream,
    early: list[list[Event]],
    answer: Answer,
) -> tuple[web.StreamResponse, str | None]:
    take = answer.take
    send = resp.send
    try:
        data = out.start()
        for batch in early:
            data += _render(out, take(batch), answer)
        if data:
            await send(data)
        if not answer.done:
            async for batch in events:
                data = _render(out, take(batch), answer)
                if data:
                    await send(data)
                if answer.done:
                    # Cut by a stop string or the token limit: read no more; the
                    # upstream is closed as the turn's stack unwinds.
                    break
        tail = _render(out, answer.flush(), answer)
        if answer.cited:
            # All in one delta after the text, as OpenAI sends them: the openai SDK's
            # stream helper cannot merge a second `annotations` list.
            tail += out.citations(tuple(answer.cited.values()))
    except UpstreamError as exc:
        upstream_failed(request.app, exc)
        # In-band, after the 200: there are no headers left to carry retry advice.
        error = upstream_api_error(request.app, exc, pooled=False)
        await resp.send_last(out.error(error))
        return resp, error.message
    except ConnectionError:
        return resp, DISCONNECTED
    except asyncio.CancelledError:
        if not request.app[keys.drain_key].cutting:
            raise
        # The grace period is over: end the stream with an event that says so.
        _uncancel()
        cut = shutdown_error()
        await resp.send_last(out.error(cut))
        return resp, cut.message
    if answer.empty:
        # Nothing at all came back (with the stream check off): tell the client in-band
        # rather than a silent stop.
        error = _empty_response()
        await resp.send_last(out.error(error))
        return resp, error.message
    await resp.send_last(tail + out.finish(answer.finish(turn)))
    return resp, None
