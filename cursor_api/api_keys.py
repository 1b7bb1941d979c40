"""Cursor dashboard API keys (`crsr_…`): exchanged for an access token before any use.

A key is accepted wherever a session token is (the token files, a caller's own key).
It is sent to one place only, the exchange (docs/agent-protocol.md §13.2); every
other upstream call carries the access token the exchange returned. Access tokens
are cached and renewed ten minutes before their `exp`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from .key_masks import key_hint
from .token_shape import check_shape, is_api_key
from .tokens import TokenEntry
from .upstream.client import UpstreamClient
from .upstream.errors import Kind, UpstreamError

log = logging.getLogger(__name__)

EXCHANGE_PATH = "/auth/exchange_user_api_key"
# Renewed this long before it expires, so no request starts on a token about to die.
RENEW_BEFORE_S = 600.0
# Caller's own keys are unbounded; the cache is not.
CACHE_LIMIT = 1000
# A refusal is remembered this long, so a revoked key costs one exchange, not one a call.
REFUSAL_TTL_S = 60.0


class ExchangeRefused(UpstreamError):
    """The exchange answered, and not with a usable token: the key does not work.

    A pool entry whose key is refused is benched until the token files are reloaded
    (kind `bad_token`), with the upstream's reason; a rate-limited exchange cools
    down like any rate limit.
    """

    @property
    def kind(self) -> Kind:
        kind = super().kind
        return kind if kind in ("rate_limit", "version") else "bad_token"


@dataclass(frozen=True, slots=True)
class _Access:
    token: str
    expires_at: float


class KeyExchange:
    """Access tokens for API keys, one exchange per key at a time."""

    def __init__(self, client: UpstreamClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self.exchanges = 0
        self._cache: OrderedDict[str, _Access] = OrderedDict()
        self._pending: dict[str, asyncio.Task[_Access]] = {}
        self._refused: OrderedDict[str, tuple[float, ExchangeRefused]] = OrderedDict()

    async def credential(self, entry: TokenEntry) -> TokenEntry:
        """What goes upstream for `entry`: itself, or its key's access token."""
        if not is_api_key(entry.token):
            return entry
        return replace(entry, token=await self.access_token(entry.token))

    async def access_token(self, key: str) -> str:
        """A current access token for `key`; UpstreamError when it cannot be had.

        Concurrent requests on one key share one exchange.
        """
        cached = self._fresh(key)
        if cached is not None:
            return cached
        refused = self._refused.get(key)
        if refused is not None and self.clock() < refused[0]:
            raise replace(refused[1])
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._exchange(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda task: self._done(key, task))
        # Shielded: one caller leaving must not cancel the exchange the others await.
        try:
            access = await asyncio.shield(pending)
        except ExchangeRefused as exc:
            self._refused[key] = (self.clock() + REFUSAL_TTL_S, exc)
            while len(self._refused) > CACHE_LIMIT:
                self._refused.popitem(last=False)
            raise
        self._refused.pop(key, None)
        self._cache[key] = access
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_LIMIT:
            self._cache.popitem(last=False)
        return access.token

    def _done(self, key: str, task: asyncio.Task[_Access]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled():
            task.exception()  # seen by whoever awaited it; retrieved here for the rest

    async def close(self) -> None:
        """Cancel exchanges still in flight (shutdown)."""
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)

    def _fresh(self, key: str) -> str | None:
        access = self._cache.get(key)
        if access is None or self.clock() >= access.expires_at - RENEW_BEFORE_S:
            return None
        return access.token

    async def _exchange(self, key: str) -> _Access:
        self.exchanges += 1
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        try:
            answer = await self.client.post_json(EXCHANGE_PATH, {}, headers)
        except UpstreamError as exc:
            if exc.http_status is None or not 400 <= exc.http_status < 500:
                # Unreachable, or the exchange itself broke: not the key's fault.
                raise
            raise ExchangeRefused(
                exc.code,
                exc.message,
                error_name=exc.error_name,
                title=f"the API key exchange refused {key_hint(key)}: {exc.text}",
                http_status=exc.http_status,
                is_retryable=exc.is_retryable,
            ) from None
        token = answer.get("accessToken") if isinstance(answer, dict) else None
        now = self.clock()
        shape = check_shape(token, now) if isinstance(token, str) else None
        if not isinstance(token, str) or shape is None or not shape.ok or is_api_key(token):
            why = shape.error if shape is not None and shape.error else "no usable accessToken"
            raise ExchangeRefused(
                "internal",
                f"the API key exchange for {key_hint(key)} answered without a usable "
                f"access token ({why})",
                http_status=200,
            )
        # No `exp` is unusual; an hour is what the exchange has been seen to grant.
        expires_at = float(shape.expires_at) if shape.expires_at is not None else now + 3600
        log.info("exchanged API key %s for an access token", key_hint(key))
        return _Access(token, expires_at)
