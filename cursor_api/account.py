"""Cursor account information: `/userinfo` and the usage check (docs/service.md §7).

The account endpoints themselves: docs/protocol.md §5.

The usage check keeps each token's last known profile (membership and premium request
count). It is fetched in the background after a request for a checked model, never on
the request path, and a request whose token is a free account at its premium limit is
refused before the upstream is called.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from . import keys
from .models import PREMIUM_MODELS
from .settings import Settings
from .token_shape import check_shape
from .tokens import TokenEntry
from .tokens import mask as mask_token
from .upstream.client import UpstreamClient
from .upstream.errors import UpstreamError

log = logging.getLogger(__name__)

COOKIE_NAME = "WorkosCursorSessionToken"
USAGE_PATH = "/api/usage"
ME_PATH = "/api/auth/me"
STRIPE_PATH = "/auth/full_stripe_profile"
PREMIUM_KEY = "gpt-4"  # docs/protocol.md §5: premium = gpt-4, standard = gpt-3.5-turbo

# How many tokens' profiles are kept: direct `token,checksum` keys are unbounded.
PROFILE_LIMIT = 1000
# A refused request asks for a fresh profile when the known one is older than this,
# so an account whose month rolled over is usable again without a restart.
STALE_AFTER_S = 300.0
# A token's profile is fetched at most this often, however busy the token is: the
# upstream refuses an over-limit request itself, so a little lag costs one error.
REFRESH_MIN_S = 30.0

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What the usage check knows of one token's account."""

    membership: str | None
    num_requests: int | None
    max_requests: int | None
    fetched_at: float

    @property
    def exhausted(self) -> bool:
        """A free account that has used all its premium requests."""
        return (
            self.membership == "free"
            and self.num_requests is not None
            and self.max_requests is not None
            and self.num_requests >= self.max_requests
        )


class UsageLimitReached(UpstreamError):
    """A token's last known profile is a free account at its limit (refused locally).

    An UpstreamError so the chat handler treats it like the upstream's own refusal: a
    pool token cools down and the next one is tried; a direct key gets 401.
    """

    def __init__(self, profile: AccountProfile) -> None:
        super().__init__(
            "unauthenticated",
            error_name="ERROR_FREE_USER_USAGE_LIMIT",
            title="this Cursor account is a free account at its premium request limit",
            detail=(
                f"{profile.num_requests} of {profile.max_requests} requests used; use a "
                "non-premium model or another token"
            ),
            status_override=401,
        )


def _number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def profile_of(usage: object, stripe: object, now: float) -> AccountProfile | None:
    """The usage-check view of the `/api/usage` and stripe answers.

    None unless both came back: half a profile must not replace a whole one.
    """
    if not isinstance(usage, dict) or not isinstance(stripe, dict):
        return None
    membership = stripe.get("membershipType")
    premium = usage.get(PREMIUM_KEY)
    premium = premium if isinstance(premium, dict) else {}
    return AccountProfile(
        membership=membership if isinstance(membership, str) else None,
        num_requests=_number(premium.get("numRequests")),
        max_requests=_number(premium.get("maxRequestUsage")),
        fetched_at=now,
    )


def checked_models(settings: Settings) -> Callable[[str], bool]:
    """Whether a model is subject to the usage check (`check_usage_models`)."""
    kind = settings.check_usage_models_type
    if kind == "none":
        return lambda _model: False
    if kind == "all":
        return lambda _model: True
    names = frozenset(settings.check_usage_models_list) if kind == "list" else PREMIUM_MODELS
    return names.__contains__


class AccountFetcher:
    """Calls the account endpoints of docs/protocol.md §5 through the shared UpstreamClient."""

    def __init__(self, client: UpstreamClient, *, strict: bool = False) -> None:
        self.client = client
        # strict: an endpoint's failure is raised (`cursor-api check` reports it)
        # instead of logged and turned into None.
        self.strict = strict

    @staticmethod
    def _cookie(token: str) -> dict[str, str] | None:
        user_id = check_shape(token, time.time()).user_id
        if user_id is None:
            return None
        return {"Cookie": f"{COOKIE_NAME}={user_id}%3A%3A{token}"}

    async def _get(self, url: str, headers: Mapping[str, str]) -> dict[str, Any] | None:
        try:
            data = await self.client.get_json(url, headers)
        except UpstreamError as exc:
            if self.strict:
                raise
            log.info("account lookup %s failed: %s", url.split("?")[0], exc.text)
            return None
        return data if isinstance(data, dict) else None

    async def usage(self, token: str) -> dict[str, Any] | None:
        cookie = self._cookie(token)
        if cookie is None:
            return None
        user_id = cookie["Cookie"].split("=", 1)[1].split("%3A%3A", 1)[0]
        return await self._get(f"{self.client.web_base}{USAGE_PATH}?user={user_id}", cookie)

    async def user(self, token: str) -> dict[str, Any] | None:
        cookie = self._cookie(token)
        if cookie is None:
            return None
        return await self._get(f"{self.client.web_base}{ME_PATH}", cookie)

    async def stripe(self, token: str) -> dict[str, Any] | None:
        headers = {**self.client.extra_headers, "Authorization": f"Bearer {token}"}
        return await self._get(self.client.url(STRIPE_PATH), headers)


class Accounts:
    """Last known profiles per token and the background fetches that refresh them."""

    def __init__(
        self,
        limit: int = PROFILE_LIMIT,
        min_interval: float = REFRESH_MIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.min_interval = min_interval
        self.clock = clock
        self._profiles: OrderedDict[str, AccountProfile] = OrderedDict()
        # When each token's last fetch started, so a busy token is not re-fetched per request.
        self._started: OrderedDict[str, float] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def known(self, token: str) -> AccountProfile | None:
        return self._profiles.get(token)

    def remember(self, token: str, profile: AccountProfile) -> None:
        _bounded_put(self._profiles, token, profile, self.limit)

    async def refresh(self, fetcher: AccountFetcher, token: str) -> AccountProfile | None:
        """Fetch a token's profile now and remember it; None when nothing came back."""
        # One call after the other: a background check needs no more than one connection.
        usage = await fetcher.usage(token)
        stripe = await fetcher.stripe(token) if usage is not None else None
        profile = profile_of(usage, stripe, self.clock())
        if profile is not None:
            self.remember(token, profile)
        return profile

    def schedule(self, fetcher: AccountFetcher, token: str) -> None:
        """Refresh in the background: one fetch per token at a time, one per `min_interval`."""
        if self._closed or token in self._tasks:
            return
        now = self.clock()
        if now - self._started.get(token, -math.inf) < self.min_interval:
            return
        _bounded_put(self._started, token, now, self.limit)
        task = asyncio.get_running_loop().create_task(self._run(fetcher, token))
        self._tasks[token] = task
        # A done callback, not `finally`: a task cancelled before it ran never enters _run.
        task.add_done_callback(lambda done: self._forget(token, done))

    def _forget(self, token: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(token) is task:
            del self._tasks[token]

    async def _run(self, fetcher: AccountFetcher, token: str) -> None:
        try:
            await self.refresh(fetcher, token)
        except Exception:  # a background task must never die silently
            log.exception("usage check: profile fetch for %s failed", mask_token(token))

    async def settle(self) -> None:
        """Wait until no background fetch is running (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the background fetches and wait for them to end."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


def _bounded_put(cache: OrderedDict[str, _V], key: str, value: _V, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


accounts_key = web.AppKey("cursor_api.accounts", Accounts)


def setup(app: web.Application) -> None:
    """Give the app its Accounts and cancel their background fetches on shutdown."""
    app[accounts_key] = Accounts()
    app.cleanup_ctx.append(_lifetime)


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[accounts_key].close()


def _fetcher(app: web.Application) -> AccountFetcher:
    return AccountFetcher(app[keys.upstream_key])


async def check_usage(app: web.Application, token: TokenEntry, model: str) -> None:
    """Raise UsageLimitReached when `token`'s last known profile is at its limit for `model`."""
    if not checked_models(app[keys.settings_key])(model):
        return
    accounts = app[accounts_key]
    profile = accounts.known(token.token)
    if profile is None or not profile.exhausted:
        return
    if accounts.clock() - profile.fetched_at >= STALE_AFTER_S:
        accounts.schedule(_fetcher(app), token.token)
    raise UsageLimitReached(profile)


def schedule_refresh(app: web.Application, token: TokenEntry, model: str) -> None:
    """After a request for a checked model, refresh the token's profile in the background."""
    if checked_models(app[keys.settings_key])(model):
        app[accounts_key].schedule(_fetcher(app), token.token)


async def user_info(app: web.Application, token: str) -> dict[str, Any]:
    """`{"usage","user","stripe"}` for POST /userinfo, or `{"error":"No data"}`.

    A part that could not be fetched is null; all three missing is "No data".
    """
    fetcher = _fetcher(app)
    usage, user, stripe = await asyncio.gather(
        fetcher.usage(token), fetcher.user(token), fetcher.stripe(token)
    )
    if usage is None and user is None and stripe is None:
        return {"error": "No data"}
    accounts = app[accounts_key]
    profile = profile_of(usage, stripe, accounts.clock())
    if profile is not None:
        accounts.remember(token, profile)
    return {"usage": usage, "user": user, "stripe": stripe}
