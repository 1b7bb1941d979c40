"""The fake upstream's dashboard API key exchange (docs/agent-protocol.md §13.2), and its
guard that a `crsr_` key reaches no other endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

EXCHANGE_PATH = "/auth/exchange_user_api_key"

MakeToken = Callable[[str, float, float], str]


@dataclass
class FakeKeys:
    """Which API keys exist, what the exchange grants, and what it was asked."""

    make_token: MakeToken
    keys: dict[str, str] = field(default_factory=dict)  # key -> the account's `sub`
    ttl_s: float = 3600.0  # how long an access token lives
    refusal: tuple[int, str] | None = None  # answer every exchange with this status, reason
    exchanges: list[str] = field(default_factory=list)  # the keys, in order
    granted: list[str] = field(default_factory=list)  # the access tokens, in order
    problems: list[str] = field(default_factory=list)

    async def exchange(self, request: web.Request) -> web.Response:
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        self.exchanges.append(key)
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        if body != {}:
            self.problems.append(f"{request.path}: the body is not the JSON object {{}}")
        if self.refusal is not None or key not in self.keys:
            status, reason = self.refusal or (401, "Invalid API key")
            code = {401: "unauthenticated", 403: "permission_denied", 429: "resource_exhausted"}
            error = {"code": code.get(status, "internal"), "message": reason}
            return web.json_response(error, status=status)
        access = self.make_token(self.keys[key], time.time(), self.ttl_s)
        self.granted.append(access)
        # The refresh token is optional in the answer; this fake leaves it out half the
        # time so both shapes are exercised.
        answer = {"accessToken": access}
        if len(self.granted) % 2:
            answer["refreshToken"] = self.make_token(self.keys[key], time.time(), 86400.0)
        return web.json_response(answer)

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A key anywhere but at the exchange is a leak: recorded as a problem."""
        if request.path != EXCHANGE_PATH:
            for name in ("authorization", "cookie"):
                if "crsr_" in request.headers.get(name, ""):
                    self.problems.append(f"{request.path}: an API key was sent in {name}")
        return await handler(request)
