"""POST /v1/chat/completions: OpenAI in, a dialect's event stream out (SPEC §3)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress
from typing import Any

from aiohttp import hdrs, web

from .. import account, keys
from ..auth import Caller
from ..chat_request import ChatRequest, build_turn, parse_chat_request
from ..config import Config
from ..errors import ApiError, error_type_for
from ..images import ImageLoader
from ..logs import LogEntry, TokenInfo
from ..models import LONG_CONTEXT_MODELS
from ..pool import AllCooling, TokenPool
from ..reasoning import ThinkSplitter
from ..tokens import NoTokens, TokenEntry
from ..upstream.dialects.base import EventStream
from ..upstream.errors import UpstreamError
from ..upstream.stream import Sink
from ..upstream.types import ChatTurn, Event, Notice, Prompt, Text, Thinking, Usage
from ..usage import estimate_prompt, estimate_tokens
from .common import caller_of, read_json

log = logging.getLogger(__name__)

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}

MODEL_LOG_LIMIT = 200

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def upstream_api_error(exc: UpstreamError, config: Config | None = None) -> ApiError:
    """An UpstreamError in OpenAI's error shape, with its mapped status."""
    status = exc.status
    message = exc.text
    if config is not None and exc.kind == "version":
        message = f"{message} ({operator_hint(exc, config)})"
    return ApiError(status, message, type=error_type_for(status), code=exc.error_name or exc.code)


def operator_hint(exc: UpstreamError, config: Config) -> str:
    """What the operator must change when Cursor refuses this client as outdated."""
    dialect = config.upstream_protocol
    if exc.error_name == "ERROR_DEPRECATED" or dialect == "legacy":
        return (
            f"Cursor no longer serves the {dialect!r} dialect: set UPSTREAM_PROTOCOL=agent "
            "(the current one) and restart"
        )
    example = "cli-YYYY.MM.DD-<commit>" if dialect == "agent" else "a current IDE version"
    return (
        f"Cursor refused client version {config.client_version!r}: set CURSOR_CLIENT_VERSION to "
        f"{example} (or try UPSTREAM_PROTOCOL=agent) and restart"
    )


class Answer:
    """Accumulates what the upstream said; turns events into OpenAI deltas."""

    __slots__ = ("content", "entry", "reasoning", "splitter", "usage")

    def __init__(self, entry: LogEntry, raw_reasoning: bool) -> None:
        self.entry = entry
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.usage: Usage | None = None
        self.splitter = None if raw_reasoning else ThinkSplitter()

    def take(self, events: list[Event]) -> tuple[str, str]:
        """Fold one read's events into (reasoning, content) to send now."""
        content = ""
        reasoning = ""
        for event in events:
            if type(event) is Text:
                if self.splitter is not None:
                    think, text = self.splitter.feed(event.text)
                    reasoning += think
                    content += text
                else:
                    content += event.text
            elif type(event) is Thinking:
                reasoning += event.text
            elif type(event) is Prompt:
                self.entry.prompt = event.text
            elif type(event) is Usage:
                self.usage = event
            elif type(event) is Notice:
                log.info("upstream notice: %s", event.text)
        return self._keep(reasoning, content)

    def flush(self) -> tuple[str, str]:
        if self.splitter is None:
            return "", ""
        return self._keep(*self.splitter.flush())

    def _keep(self, reasoning: str, content: str) -> tuple[str, str]:
        if reasoning:
            self.reasoning.append(reasoning)
        if content:
            self.content.append(content)
        if (reasoning or content) and self.entry.first is None:
            self.entry.mark_first()
        return reasoning, content

    def usage_dict(self, turn: ChatTurn) -> dict[str, Any]:
        if self.usage is not None:
            prompt, completion = self.usage.prompt_tokens, self.usage.completion_tokens
        else:
            prompt = estimate_prompt([turn.instructions, *(m.text for m in turn.messages)])
            completion = estimate_tokens("".join(self.content)) + estimate_tokens(
                "".join(self.reasoning)
            )
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if self.usage is not None and self.usage.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": self.usage.cached_tokens}
        if self.usage is not None and self.usage.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.usage.reasoning_tokens}
        return usage


async def chat_completions(request: web.Request) -> web.StreamResponse:
    app = request.app
    caller = caller_of(request)
    # One log entry per authenticated chat request, opened before validation so a
    # refused body or model shows up as a failed entry too (SPEC §5).
    logs = app[keys.logs_key]
    entry = logs.start("", False)
    if caller.token is not None:
        token = caller.token
        entry.token_info = TokenInfo(token.token, token.checksum, token.alias)
    try:
        return await _accept(request, caller, entry)
    except asyncio.CancelledError:
        logs.finish(entry, "client disconnected")
        raise
    except ApiError as exc:
        logs.finish(entry, exc.message)
        raise
    except Exception as exc:
        logs.finish(entry, f"internal error: {exc!r}")
        raise
    finally:
        logs.finish(entry)


async def _accept(request: web.Request, caller: Caller, entry: LogEntry) -> web.StreamResponse:
    """Validate the body and build the upstream turn, then complete it."""
    app = request.app
    body = await read_json(request)
    if isinstance(body, dict):
        # Best effort for a body refused below; capped so the ring stays small.
        entry.model = str(body.get("model", ""))[:MODEL_LOG_LIMIT]
        entry.stream = body.get("stream") is True
    chat = parse_chat_request(body)
    entry.model, entry.stream = chat.model[:MODEL_LOG_LIMIT], chat.stream
    settings = app[keys.settings_key]
    catalog = app[keys.catalog_key]
    if not catalog.allowed(chat.model, settings.enable_all_claude):
        raise ApiError(
            400,
            f"model {chat.model!r} is not supported: GET /v1/models lists the models "
            "this service offers",
            code="model_not_supported",
            param="model",
        )
    loader = ImageLoader(app[keys.upstream_key].session, settings.vision_ability)
    turn = await build_turn(
        chat,
        default_instructions=app[keys.config_key].default_instructions,
        load_image=loader.load,
        long_context=chat.model in LONG_CONTEXT_MODELS,
        slow_pool=settings.enable_slow_pool,
    )
    return await _complete(request, caller, chat, turn, entry)


async def _complete(
    request: web.Request, caller: Caller, chat: ChatRequest, turn: ChatTurn, entry: LogEntry
) -> web.StreamResponse:
    app = request.app
    settings = app[keys.settings_key]
    answer = Answer(entry, chat.raw_reasoning)
    async with AsyncExitStack() as stack:
        # Read up to the first content before answering 200, so an upstream error
        # becomes a proper HTTP error (SPEC §3.4 ENABLE_STREAM_CHECK).
        check = settings.enable_stream_check or not chat.stream
        events, early = await _open(request, caller, turn, entry, stack, check=check)
        if not chat.stream:
            return await _collect(events, early, answer, turn, chat, entry, request)
        return await _stream(request, events, early, answer, turn, chat, entry)
    raise AssertionError("unreachable")  # pragma: no cover


async def _open(
    request: web.Request,
    caller: Caller,
    turn: ChatTurn,
    entry: LogEntry,
    stack: AsyncExitStack,
    *,
    check: bool,
) -> tuple[EventStream, list[list[Event]]]:
    """Open the upstream stream on a token; with `check`, read to the first content.

    Returns the event iterator and the event lists already read. Pool tokens are
    swapped for the next healthy one while nothing has been sent (token health).
    """
    app = request.app
    store = app[keys.pool_key]
    dialect = app[keys.dialect_key]
    config = app[keys.config_key]
    tries = 1 if caller.token is not None else max(1, min(config.max_token_tries, len(store)))
    last: UpstreamError | None = None
    for attempt in range(tries):
        token = _pick(store, caller)
        entry.token_info = TokenInfo(token.token, token.checksum, token.alias)
        inner = AsyncExitStack()
        started = time.monotonic()
        try:
            await account.check_usage(app, token, turn.model)
            events = await inner.enter_async_context(dialect.open(turn, token))
            early: list[list[Event]] = []
            if check:
                async for batch in events:
                    early.append(batch)
                    # Kept now: an error before content must still log the prompt.
                    for e in batch:
                        if type(e) is Prompt:
                            entry.prompt = e.text
                    if any(type(e) in (Text, Thinking) for e in batch):
                        break
        except UpstreamError as exc:
            await inner.aclose()
            if caller.token is None and exc.kind != "version":
                store.report_failure(token, exc)
            last = exc
            _log_upstream(request, exc, config)
            if caller.token is None and store.should_retry(exc) and attempt + 1 < tries:
                log.info("token %s failed (%s); trying the next one", token.token[:8], exc.kind)
                continue
            raise upstream_api_error(exc, config) from exc
        except BaseException:
            await inner.aclose()
            raise
        if caller.token is None:
            store.report_success(token, time.monotonic() - started)
        account.schedule_refresh(app, token, turn.model)
        stack.push_async_exit(inner)
        return events, early
    assert last is not None
    raise upstream_api_error(last, config)


def _pick(store: TokenPool, caller: Caller) -> TokenEntry:
    if caller.token is not None:
        return caller.token
    try:
        token: TokenEntry = store.next()
    except AllCooling as exc:
        raise ApiError(
            503,
            f"{exc}: add tokens or wait (GET /tokeninfo shows each token's state)",
            type="service_unavailable",
            code="no_tokens",
        ) from None
    except NoTokens:
        raise ApiError(
            503,
            "the token pool is empty: add Cursor tokens to the token file and reload "
            "(GET /update-tokeninfo) or use your own 'token,checksum' as the key",
            type="service_unavailable",
            code="no_tokens",
        ) from None
    return token


def _log_upstream(request: web.Request, exc: UpstreamError, config: Config) -> None:
    if exc.kind != "version":
        log.info("upstream error %s: %s", exc.error_name or exc.code, exc.text)
        return
    # At most once a minute on stderr: a version problem fails every request.
    now = time.monotonic()
    last = request.app[keys.version_warned_key]
    if now - last[0] >= 60:
        last[0] = now
        log.warning("%s — %s", exc.text, operator_hint(exc, config))


async def _collect(
    events: EventStream,
    early: list[list[Event]],
    answer: Answer,
    turn: ChatTurn,
    chat: ChatRequest,
    entry: LogEntry,
    request: web.Request,
) -> web.Response:
    try:
        for batch in early:
            answer.take(batch)

        def keep(batch: list[Event]) -> bool:
            answer.take(batch)
            return True

        await events.relay(keep)
    except UpstreamError as exc:
        raise upstream_api_error(exc, request.app[keys.config_key]) from exc
    answer.flush()
    content = "".join(answer.content)
    reasoning = "".join(answer.reasoning)
    if not content and not reasoning:
        raise ApiError(
            502,
            "the Cursor upstream finished without producing any text; try again or another model",
            type="upstream_error",
            code="empty_response",
        )
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    usage = answer.usage_dict(turn)
    entry.usage = {k: v for k, v in usage.items() if isinstance(v, int)}
    payload = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
    }
    return web.Response(body=_dumps(payload).encode(), content_type="application/json")


class ChunkWriter:
    """Builds SSE chunks with the constant parts serialised once."""

    __slots__ = ("head", "resp", "tail")

    def __init__(self, resp: web.StreamResponse, model: str) -> None:
        self.resp = resp
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        self.head = (
            f'data: {{"id":"{cid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{_dumps(model)},"choices":[{{"index":0,"delta":'
        ).encode()
        self.tail = b',"finish_reason":null}]}\n\n'

    def delta(self, delta: dict[str, str]) -> bytes:
        return self.head + _dumps(delta).encode() + self.tail

    def content(self, text: str) -> bytes:
        """The common chunk, built without a dict: only the text is serialised."""
        return self.head + b'{"content":' + _dumps(text).encode() + b"}" + self.tail

    def finish(self) -> bytes:
        return self.head + b'{},"finish_reason":"stop"}]}\n\n'

    def usage(self, usage: dict[str, Any]) -> bytes:
        # Same id/created/model prefix; `choices` must be empty on the usage chunk.
        prefix = self.head[: self.head.index(b'"choices"')]
        return prefix + b'"choices":[],"usage":' + _dumps(usage).encode() + b"}\n\n"


# Past this many unsent bytes to a client, relaying waits for the client to catch up.
WRITE_HIGH_WATER = 64 * 1024


async def _stream(
    request: web.Request,
    events: EventStream,
    early: list[list[Event]],
    answer: Answer,
    turn: ChatTurn,
    chat: ChatRequest,
    entry: LogEntry,
) -> web.StreamResponse:
    settings = request.app[keys.settings_key]
    logs = request.app[keys.logs_key]
    resp = web.StreamResponse(headers=SSE_HEADERS)
    payload = await resp.prepare(request)
    assert payload is not None
    writer = ChunkWriter(resp, chat.model)
    first = True

    def chunk(reasoning: str, content: str) -> bytes:
        """The SSE event for one read's text, or nothing."""
        nonlocal first
        if not reasoning:
            if not content:
                return b""
            if not first:
                return writer.content(content)
        delta: dict[str, str] = {"role": "assistant"} if first else {}
        first = False
        if reasoning:
            delta["reasoning_content"] = reasoning
        if content or not reasoning:
            delta["content"] = content
        return writer.delta(delta)

    async def send(reasoning: str, content: str) -> None:
        data = chunk(reasoning, content)
        if data:
            await resp.write(data)

    try:
        for batch in early:
            await send(*answer.take(batch))
        if first:
            # The headers go out with the first write; relaying writes after them.
            async for batch in events:
                await send(*answer.take(batch))
                if not first:
                    break
        transport = request.transport
        if not first and transport is not None:
            await events.relay(_sink(transport, resp, answer, chunk), payload.drain)
        await send(*answer.flush())
    except UpstreamError as exc:
        error = upstream_api_error(exc, request.app[keys.config_key])
        logs.finish(entry, error.message)
        await _write_quietly(resp, b"data: " + _dumps(error.body()).encode() + b"\n\n")
        return resp
    except ConnectionError:
        logs.finish(entry, "client disconnected")
        return resp
    if first:
        # Nothing at all came back: tell the client in-band rather than a silent stop.
        error = ApiError(
            502,
            "the Cursor upstream finished without producing any text",
            type="upstream_error",
            code="empty_response",
        )
        logs.finish(entry, error.message)
        await _write_quietly(resp, b"data: " + _dumps(error.body()).encode() + b"\n\n")
        return resp
    usage = answer.usage_dict(turn)
    entry.usage = {k: v for k, v in usage.items() if isinstance(v, int)}
    tail = b""
    if settings.include_stop_stream:
        tail += writer.finish()
    if chat.include_usage:
        tail += writer.usage(usage)
    tail += b"data: [DONE]\n\n"
    await _write_quietly(resp, tail)
    await _write_eof_quietly(resp)
    return resp


def _sink(
    transport: asyncio.Transport,
    resp: web.StreamResponse,
    answer: Answer,
    chunk: Callable[[str, str], bytes],
) -> Sink:
    """Writes each read's chunk straight to the client's transport (after the headers).

    Runs in the upstream's data callback, so it frames HTTP chunks itself, as
    aiohttp's writer would, and reports a full buffer instead of awaiting a drain.
    """
    chunked = resp.headers.get(hdrs.TRANSFER_ENCODING) == "chunked"

    def sink(batch: list[Event]) -> bool:
        data = chunk(*answer.take(batch))
        if data:
            if transport.is_closing():
                raise ConnectionResetError("the client closed the connection")
            transport.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
        return transport.get_write_buffer_size() <= WRITE_HIGH_WATER

    return sink


async def _write_quietly(resp: web.StreamResponse, data: bytes) -> None:
    """The client may be gone by now; that is not our error."""
    with suppress(ConnectionError):
        await resp.write(data)


async def _write_eof_quietly(resp: web.StreamResponse) -> None:
    with suppress(ConnectionError):
        await resp.write_eof()
