"""Opening a turn upstream: token pick, failover while nothing is sent, the stream check."""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack
from dataclasses import replace

from aiohttp import web

from .. import account, keys
from ..auth import Caller
from ..errors import ApiError, from_upstream, operator_hint
from ..logs import LogEntry, TokenInfo
from ..pool import AllCooling, TokenPool, mask
from ..tokens import NoTokens, TokenEntry
from ..upstream.dialects.base import EventStream, new_uuid
from ..upstream.errors import UpstreamError
from ..upstream.types import ChatTurn, Event, Prompt, Text, Thinking, ToolCall

log = logging.getLogger(__name__)


def upstream_api_error(app: web.Application, exc: UpstreamError, pooled: bool) -> ApiError:
    """An UpstreamError as the client sees it (mapped in errors.from_upstream).

    `pooled`: the request ran on the token pool, so whether and when a retry could
    succeed depends on the pool's state.
    """
    retry_after, hopeless = app[keys.pool_key].outlook() if pooled else (None, True)
    version = app[keys.upstream_key].client_version
    return from_upstream(
        exc, app[keys.config_key], version, retry_after=retry_after, hopeless=hopeless
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
    pooled = caller.token is None
    tries = 1 if not pooled else max(1, min(config.max_token_tries, len(store)))
    last: UpstreamError | None = None
    provider_retried = False
    for attempt in range(tries):
        if attempt:
            # Every attempt is its own upstream request: a reused id would tie the
            # new run to the failed one on Cursor's side.
            turn = replace(turn, request_id=new_uuid())
        token = _pick(store, caller)
        entry.token_info = TokenInfo(token.token, token.checksum, token.alias)
        inner = AsyncExitStack()
        started = time.monotonic()
        try:
            # A dashboard API key goes upstream as its access token (api_keys.py).
            wire = await app[keys.exchange_key].credential(token)
            await account.check_usage(app, wire, turn.model)
            events = await inner.enter_async_context(dialect.open(turn, wire))
            early = await _read_to_content(events, entry) if check else []
        except UpstreamError as exc:
            await inner.aclose()
            if pooled and exc.kind != "version":
                store.report_failure(token, exc)
            last = exc
            upstream_failed(app, exc)
            # A provider outage is not the token's fault: one more try, elsewhere.
            again = store.should_retry(exc) or (exc.kind == "provider" and not provider_retried)
            if pooled and again and attempt + 1 < tries:
                provider_retried = provider_retried or exc.kind == "provider"
                log.info("token %s failed (%s); trying the next one", mask(token.token), exc.kind)
                app[keys.metrics_key].failovers.inc()
                continue
            raise upstream_api_error(app, exc, pooled) from exc
        except BaseException:
            await inner.aclose()
            raise
        if caller.token is None:
            store.report_success(token, time.monotonic() - started)
        account.schedule_refresh(app, wire, turn.model)
        stack.push_async_exit(inner)
        return events, early
    assert last is not None
    raise upstream_api_error(app, last, pooled)


async def _read_to_content(events: EventStream, entry: LogEntry) -> list[list[Event]]:
    """The event lists up to and with the first content (the stream check)."""
    early: list[list[Event]] = []
    async for batch in events:
        early.append(batch)
        # Kept now: an error before content must still log the prompt.
        for e in batch:
            if type(e) is Prompt:
                entry.prompt = e.text
        if any(type(e) in (Text, Thinking, ToolCall) for e in batch):
            break
    return early


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
            retry_after=exc.wait_s,
            # Waiting cannot bring back a used-up balance or a refused token.
            should_retry=False if exc.out_of_usage or exc.wait_s is None else None,
        ) from None
    except NoTokens:
        raise ApiError(
            503,
            "the token pool is empty: add Cursor tokens to the token file and reload "
            "(GET /update-tokeninfo) or use your own 'token,checksum' as the key",
            type="service_unavailable",
            code="no_tokens",
            should_retry=False,
        ) from None
    return token


def upstream_failed(app: web.Application, exc: UpstreamError) -> None:
    """Count and log an error Cursor answered (before or after the first content)."""
    if not isinstance(exc, account.UsageLimitReached):  # our own refusal, not Cursor's
        app[keys.metrics_key].upstream_error(exc)
    config = app[keys.config_key]
    if exc.kind != "version":
        log.info("upstream error %s: %s", exc.error_name or exc.code, exc.text)
        return
    # At most once a minute on stderr: a version problem fails every request.
    now = time.monotonic()
    last = app[keys.version_warned_key]
    if now - last[0] >= 60:
        last[0] = now
        version = app[keys.upstream_key].client_version
        log.warning("%s — %s", exc.text, operator_hint(exc, config, version))
