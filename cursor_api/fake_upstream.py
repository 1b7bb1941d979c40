"""A fake Cursor upstream: a real aiohttp server speaking Cursor's protocol.

`--demo` runs it so the service can be tried without a Cursor account, and the tests
run it to exercise the service over real sockets. It decodes every request strictly
(envelopes, protobuf, headers, checksum) and records what it saw; it answers by
Scenario: scripted text frames, fixture replays, split or gzip'd frames, error
trailers, HTTP errors, dropped connections, silence. Its parts live beside it by what
they hold: fake_scenario.py (what tests script), fake_state.py (what it records),
fake_play.py, fake_chat.py, fake_agent.py, fake_account.py (README "Development").
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .fake_account import AUTH_ME_PATH, STRIPE_PATH, USAGE_PATH, FakeAccounts
from .fake_agent import APPEND_PATH, RUN_PATH, USABLE_MODELS_PATH, FakeAgent
from .fake_auth import EXCHANGE_PATH
from .fake_chat import LEGACY_PATH, MODELS_PATH, UNIFIED_PATH, FakeChat
from .fake_scenario import Profile as Profile
from .fake_scenario import Scenario as Scenario
from .fake_scenario import error_payload as error_payload
from .fake_scenario import make_token as make_token
from .fake_state import ChatView as ChatView
from .fake_tools import FakeCall as FakeCall


@dataclass
class FakeUpstream(FakeChat, FakeAgent, FakeAccounts):
    """The fake Cursor server: every dialect's and account handler on one application."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.app = web.Application(
            client_max_size=64 * 1024 * 1024, middlewares=[self.api_keys.guard]
        )
        self.app.router.add_post(EXCHANGE_PATH, self.api_keys.exchange)
        self.app.router.add_post(LEGACY_PATH, self._legacy)
        self.app.router.add_post(UNIFIED_PATH, self._unified)
        self.app.router.add_post(MODELS_PATH, self._models)
        self.app.router.add_post(RUN_PATH, self._run_sse)
        self.app.router.add_post(APPEND_PATH, self._bidi_append)
        self.app.router.add_post(USABLE_MODELS_PATH, self._usable_models)
        self.app.router.add_get(USAGE_PATH, self._usage)
        self.app.router.add_get(AUTH_ME_PATH, self._auth_me)
        self.app.router.add_get(STRIPE_PATH, self._stripe)
