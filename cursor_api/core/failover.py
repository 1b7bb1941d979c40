"""Opening a turn upstream: token pick, failover while nothing is sent, the stream check."""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack

from aiohttp import web

from .. import account, keys
from ..auth import Caller
from ..config import Config
from ..errors import ApiError, error_type_for
from ..logs import LogEntry, TokenInfo
from ..pool import AllCooling, TokenPool
from ..tokens import NoTokens, TokenEntry
from ..upstream.dialects.base import EventStream
from ..upstream.errors import UpstreamError
from ..upstream.types import ChatTurn, Event, Prompt, Text, Thinking, ToolCall

log = logging.getLogger(__name__)


def upstream_api_error(exc: UpstreamError, config: Config | None = None) -> ApiError:
    """An UpstreamError as an ApiError, with its mapped status (the one place it is mapped)."""
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


async def open_events(
    app: web.Application,
    caller: Caller,
    turn: ChatTurn,
    entry: LogEntry,
    stack: AsyncExitStack,
    *,
    check: bool,
) -> tuple[EventStream, list[list[Event]]]:
    """Open the upstream stream on a token; with `check`, read to the first content.

    Returns the event iterator (closed with `stack`) and the event lists already
    read. Pool tokens are swapped for the next healthy one while nothing has been
    sent (token health); an error that ends the tries is raised as ApiError.
    """
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
                    if any(type(e) in (Text, Thinking, ToolCall) for e in batch):
                        break
        except UpstreamError as exc:
            await inner.aclose()
            if caller.token is None and exc.kind != "version":
                store.report_failure(token, exc)
            last = exc
            _log_upstream(app, exc, config)
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


def _log_upstream(app: web.Application, exc: UpstreamError, config: Config) -> None:
    if exc.kind != "version":
        log.info("upstream error %s: %s", exc.error_name or exc.code, exc.text)
        return
    # At most once a minute on stderr: a version problem fails every request.
    now = time.monotonic()
    last = app[keys.version_warned_key]
    if now - last[0] >= 60:
        last[0] = now
        log.warning("%s — %s", exc.text, operator_hint(exc, config))
