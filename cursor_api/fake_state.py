"""What the fake Cursor upstream records, and the request checks every handler shares.

`FakeState` holds the fake's state (scenarios to play, requests seen as `Seen`, agent
runs, problems found); the handlers of each dialect and of the account endpoints
extend it (fake_chat.py, fake_agent.py, fake_account.py, played by fake_play.py),
and `FakeUpstream` (fake_upstream.py) puts them together on one aiohttp application.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from .fake_auth import FakeKeys
from .fake_scenario import Profile, Scenario, make_token
from .upstream import checksum
from .upstream.connect import EnvelopeDecoder, ProtocolError
from .upstream.proto import agent_pb2 as ag


@dataclass
class AgentRun:
    """The fake's view of one RunSSE turn and its appends."""

    request_id: str
    inbox: asyncio.Queue[ag.AgentClientMessage] = field(default_factory=asyncio.Queue)
    next_seqno: int = 0
    pending: dict[int, ag.AgentClientMessage] = field(default_factory=dict)
    appends: list[tuple[int, str, float]] = field(default_factory=list)
    run_request: ag.AgentRunRequest | None = None
    answered: list[str] = field(default_factory=list)
    stalled_on: str | None = None
    finished: bool = False
    # Replies to the scripted tool calls, in arrival order, and exec heartbeats seen.
    tool_replies: list[ag.AgentClientMessage] = field(default_factory=list)
    exec_heartbeats: int = 0


@dataclass
class ChatView:
    """What any dialect's chat request asked for, in one shape tests can compare."""

    model: str
    instructions: str | None
    messages: list[tuple[str, str]]
    images: list[tuple[bytes, int, int]] = field(default_factory=list)


@dataclass
class Seen:
    """One request the fake received, decoded."""

    path: str
    headers: CIMultiDict[str]
    token: str
    message: Any = None
    chat: ChatView | None = None


@dataclass
class FakeState:
    """The fake server state: scenarios to play, requests seen, problems found."""

    scenario: Scenario = field(default_factory=Scenario)
    by_token: dict[str, Scenario] = field(default_factory=dict)
    models: list[str] = field(
        default_factory=lambda: ["claude-4.5-sonnet", "gpt-5.1", "composer-2.5", "default"]
    )
    models_error: bytes | None = None
    seen: list[Seen] = field(default_factory=list)  # chat requests
    model_calls: list[Seen] = field(default_factory=list)  # model-list calls
    problems: list[str] = field(default_factory=list)
    active: int = 0
    runs: dict[str, AgentRun] = field(default_factory=dict)
    demand_timeout: float = 3600.0
    profiles: dict[str, Profile] = field(default_factory=dict)  # default: a pro account
    account_calls: list[Seen] = field(default_factory=list)
    account_status: int | None = None  # answer the account endpoints with this error
    api_keys: FakeKeys = field(default_factory=lambda: FakeKeys(_access_token))

    def __post_init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.api_keys.problems = self.problems

    def scenario_for(self, token: str) -> Scenario:
        return self.by_token.get(token, self.scenario)

    def seen_on(self, path: str) -> list[Seen]:
        return [s for s in (*self.seen, *self.model_calls) if s.path == path]

    # ---- request checks ------------------------------------------------------

    def _token(self, request: web.Request) -> str:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or len(auth) < 20:
            self.problems.append(f"{request.path}: missing bearer token")
            return ""
        return auth.removeprefix("Bearer ")

    def _require_headers(self, request: web.Request, names: Sequence[str]) -> None:
        for name in names:
            if not request.headers.get(name):
                self.problems.append(f"{request.path}: header {name} missing")

    def _check_checksum(self, request: web.Request) -> None:
        value = request.headers.get("x-cursor-checksum", "")
        if not checksum.is_valid(value, int(time.time() * 1000)):
            self.problems.append(f"{request.path}: invalid x-cursor-checksum {value[:12]!r}")

    async def _envelope(self, request: web.Request) -> bytes | None:
        body = await request.read()
        decoder = EnvelopeDecoder()
        try:
            frames = decoder.feed(body)
            decoder.finish()
        except ProtocolError as exc:
            self.problems.append(f"{request.path}: bad request envelope: {exc}")
            return None
        if len(frames) != 1 or frames[0].is_end:
            self.problems.append(f"{request.path}: expected one message envelope")
            return None
        return frames[0].payload


def _access_token(sub: str, now: float, ttl_s: float) -> str:
    return make_token(sub, now=now, ttl_s=ttl_s)
