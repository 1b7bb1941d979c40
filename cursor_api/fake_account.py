"""The fake's account endpoints (docs/protocol.md §5): usage, auth/me, the Stripe profile,
answered from each token's `Profile`."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from .fake_scenario import Profile
from .fake_state import FakeState, Seen

USAGE_PATH = "/api/usage"
AUTH_ME_PATH = "/api/auth/me"
STRIPE_PATH = "/auth/full_stripe_profile"
SESSION_COOKIE = "WorkosCursorSessionToken"


class FakeAccounts(FakeState):
    """The account endpoints."""

    def profile_for(self, token: str) -> Profile:
        return self.profiles.get(token, Profile())

    def _cookie_token(self, request: web.Request) -> tuple[str, str] | None:
        """(user_id, token) of a well-formed session cookie, else a recorded problem."""
        value = request.cookies.get(SESSION_COOKIE)
        if value is None:
            self.problems.append(f"{request.path}: no {SESSION_COOKIE} cookie")
            return None
        user_id, sep, token = value.partition("%3A%3A")
        sub = _jwt_sub(token) if sep else None
        if sub is None or not user_id.startswith("user_") or sub.rpartition("|")[2] != user_id:
            self.problems.append(f"{request.path}: malformed {SESSION_COOKIE} {value[:24]!r}")
            return None
        return user_id, token

    def _account_refusal(self, request: web.Request, token: str | None) -> web.Response | None:
        self.account_calls.append(Seen(request.path, CIMultiDict(request.headers), token or ""))
        if token is None:
            return web.Response(status=401, text="Unauthorized")
        if self.account_status is not None:
            return web.Response(status=self.account_status, text="account service failed")
        refuse = self.profile_for(token).refuse
        if refuse is not None:
            return web.Response(status=refuse, text="Unauthorized")
        return None

    def _account_user(self, request: web.Request) -> tuple[str, str] | web.Response:
        """(user id, token) from the session cookie, or the refusal to answer with."""
        found = self._cookie_token(request)
        refusal = self._account_refusal(request, found[1] if found else None)
        if refusal is not None:
            return refusal
        assert found is not None  # no cookie token is a refusal
        return found

    async def _usage(self, request: web.Request) -> web.Response:
        found = self._account_user(request)
        if isinstance(found, web.Response):
            return found
        user_id, token = found
        if request.query.get("user") != user_id:
            self.problems.append(f"{request.path}: ?user= does not match the cookie")
        p = self.profile_for(token)
        standard = 500 if p.membership == "free" else None
        return web.json_response(
            {
                "gpt-4": {
                    "numRequests": p.num_requests,
                    "numRequestsTotal": p.num_requests,
                    "numTokens": p.num_requests * 1000,
                    "maxRequestUsage": p.max_request_usage,
                    "maxTokenUsage": None,
                },
                "gpt-3.5-turbo": {
                    "numRequests": 0,
                    "numRequestsTotal": 0,
                    "numTokens": 0,
                    "maxRequestUsage": standard,
                    "maxTokenUsage": None,
                },
                "gpt-4-32k": {
                    "numRequests": 0,
                    "numRequestsTotal": 0,
                    "numTokens": 0,
                    "maxRequestUsage": 50,
                    "maxTokenUsage": None,
                },
                "startOfMonth": "2026-01-01T00:00:00.000Z",
            }
        )

    async def _auth_me(self, request: web.Request) -> web.Response:
        found = self._account_user(request)
        if isinstance(found, web.Response):
            return found
        user_id, token = found
        p = self.profile_for(token)
        return web.json_response(
            {
                "email": p.email,
                "email_verified": True,
                "name": p.email.partition("@")[0],
                "sub": f"auth0|{user_id}",
                "updated_at": "2026-01-01T00:00:00.000Z",
                "picture": None,
            }
        )

    async def _stripe(self, request: web.Request) -> web.Response:
        token = self._token(request)
        if token and _jwt_sub(token) is None:
            self.problems.append(f"{request.path}: the bearer is not a session token")
        refusal = self._account_refusal(request, token or None)
        if refusal is not None:
            return refusal
        p = self.profile_for(token)
        answer: dict[str, Any] = {
            "membershipType": p.membership,
            "daysRemainingOnTrial": 7 if p.membership == "free_trial" else 0,
        }
        if p.membership in ("pro", "enterprise"):
            answer["paymentId"] = "pay_fake"
        return web.json_response(answer)


def _jwt_sub(token: str) -> str | None:
    """The `sub` of a JWT-shaped token, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) else None
