"""Token health and failover over the token store (what API gateways do).

A pool token the upstream rejects for auth reasons or rate limits goes into a
cooldown that doubles on repeats; one whose account has no usage left cools down
longer; one whose error says it is expired or logged out (or whose API key exchange
was refused) is bad until the token files are reloaded. `next()` skips them all,
round-robin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from .key_masks import key_hint
from .token_shape import is_api_key
from .token_store import TokenStore
from .tokens import NoTokens, TokenEntry

BASE_COOLDOWN_S = 30.0
# A used-up usage limit or prepaid balance does not come back in seconds.
USAGE_COOLDOWN_S = 300.0
MAX_COOLDOWN_S = 1800.0
COOLING_KINDS = ("auth", "rate_limit", "usage")


class Classified(Protocol):
    """What the pool needs to know of an upstream error."""

    @property
    def kind(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(slots=True)
class Health:
    """One token's record."""

    requests: int = 0
    failures: int = 0
    strikes: int = 0
    cooling_until: float = 0.0
    # The error kind that started the current cooldown.
    cooling_kind: str | None = None
    bad: str | None = None
    reason: str | None = None
    last_used: float | None = None


class AllCooling(NoTokens):
    """Every pool token is cooling down or bad.

    `out_of_usage`: no token is cooling for a reason a short wait can fix (every one
    is bad or out of usage), so a client retry is pointless.
    """

    def __init__(self, wait_s: float | None, out_of_usage: bool = False) -> None:
        self.wait_s = wait_s
        self.out_of_usage = out_of_usage
        when = f"; the first is usable again in {wait_s:.0f} s" if wait_s is not None else ""
        what = "out of usage or marked bad" if out_of_usage else "cooling down or marked bad"
        super().__init__(f"every pool token is {what}{when}")


class TokenPool:
    """Round-robin over healthy tokens with failure bookkeeping."""

    def __init__(
        self,
        store: TokenStore,
        clock: Callable[[], float] = time.monotonic,
        base_cooldown: float = BASE_COOLDOWN_S,
        max_cooldown: float = MAX_COOLDOWN_S,
    ) -> None:
        self.store = store
        self.clock = clock
        self.base_cooldown = base_cooldown
        self.max_cooldown = max_cooldown
        self._health: dict[str, Health] = {}
        self._cursor = 0

    def __len__(self) -> int:
        return len(self.store.entries)

    def health(self, token: str) -> Health:
        record = self._health.get(token)
        if record is None:
            record = self._health[token] = Health()
        return record

    def next(self) -> TokenEntry:
        """The next usable token in round-robin order."""
        entries = self.store.entries
        if not entries:
            raise NoTokens("the token pool is empty")
        now = self.clock()
        n = len(entries)
        for step in range(n):
            entry = entries[(self._cursor + step) % n]
            record = self._health.get(entry.token)
            if record is None or (record.bad is None and record.cooling_until <= now):
                self._cursor = (self._cursor + step + 1) % n
                return entry
        cooling = [self._health[e.token] for e in entries if self._health[e.token].bad is None]
        waits = [record.cooling_until - now for record in cooling]
        out_of_usage = all(record.cooling_kind == "usage" for record in cooling)
        raise AllCooling(max(0.0, min(waits)) if waits else None, out_of_usage)

    def outlook(self) -> tuple[float | None, bool]:
        """(seconds until some token is usable, whether waiting cannot help).

        0 s: one is usable now. Hopeless: the pool is empty, or every token is bad
        or out of usage, so a client's retry would fail the same way.
        """
        try:
            self.peek()
        except AllCooling as exc:
            return exc.wait_s, exc.out_of_usage or exc.wait_s is None
        except NoTokens:
            return None, True
        return 0.0, False

    def peek(self) -> TokenEntry:
        """A usable token for side calls (model list), without moving the round-robin."""
        cursor = self._cursor
        try:
            return self.next()
        finally:
            self._cursor = cursor

    def report_success(self, entry: TokenEntry, _elapsed: float = 0.0) -> None:
        record = self.health(entry.token)
        record.requests += 1
        record.strikes = 0
        record.reason = None
        record.last_used = time.time()

    def report_failure(self, entry: TokenEntry, error: Classified) -> None:
        record = self.health(entry.token)
        record.requests += 1
        record.failures += 1
        record.last_used = time.time()
        kind = error.kind
        if kind == "bad_token":
            record.bad = error.text
            record.reason = error.text
        elif kind in COOLING_KINDS:
            record.strikes += 1
            base = (
                max(self.base_cooldown, USAGE_COOLDOWN_S) if kind == "usage" else self.base_cooldown
            )
            cooldown = min(self.max_cooldown, base * 2 ** (record.strikes - 1))
            record.cooling_until = self.clock() + cooldown
            record.cooling_kind = kind
            record.reason = error.text

    @staticmethod
    def should_retry(error: Classified) -> bool:
        """Only token-specific failures are worth another token."""
        return error.kind in ("auth", "bad_token", "rate_limit", "usage")

    def reloaded(self) -> None:
        """Token files were reloaded: bad marks are forgotten, cooldowns kept."""
        live = {e.token for e in self.store.entries}
        for token in list(self._health):
            if token not in live:
                del self._health[token]
            else:
                self._health[token].bad = None

    def status_counts(self) -> dict[str, int]:
        """How many pool tokens are `ok`, `cooling` and `bad` (the statuses of `state()`)."""
        now = self.clock()
        counts = {"ok": 0, "cooling": 0, "bad": 0}
        for entry in self.store.entries:
            record = self._health.get(entry.token)
            if record is None:
                counts["ok"] += 1
            elif record.bad is not None:
                counts["bad"] += 1
            elif record.cooling_until > now:
                counts["cooling"] += 1
            else:
                counts["ok"] += 1
        return counts

    def state(self) -> list[dict[str, object]]:
        """Per-token state for /tokeninfo (tokens masked)."""
        now = self.clock()
        wall = datetime.now().astimezone()
        out: list[dict[str, object]] = []
        for entry in self.store.entries:
            record = self._health.get(entry.token, Health())
            status: Literal["ok", "cooling", "bad"] = "ok"
            until = None
            if record.bad is not None:
                status = "bad"
            elif record.cooling_until > now:
                status = "cooling"
                until = (wall + timedelta(seconds=record.cooling_until - now)).isoformat(
                    timespec="seconds"
                )
            out.append(
                {
                    "alias": entry.alias,
                    "token": mask(entry.token),
                    "status": status,
                    "cooling_until": until,
                    "reason": record.reason,
                    "requests": record.requests,
                    "failures": record.failures,
                    "last_used": (
                        datetime.fromtimestamp(record.last_used)
                        .astimezone()
                        .isoformat(timespec="seconds")
                        if record.last_used
                        else None
                    ),
                }
            )
        return out


def mask(token: str) -> str:
    """Enough of a token to tell it apart, never enough to use it.

    Cursor tokens share their first characters (the JWT header), so the tail shows;
    an API key shows as its placeholder (key_masks.py).
    """
    if is_api_key(token):
        return key_hint(token)
    return f"…{token[-8:]}" if len(token) > 24 else "…"
