"""Typed application keys: the one place app-wide objects are named.

The exception is `account.accounts_key`: account.py reads these keys, so this module
cannot import it back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from .api_keys import KeyExchange
from .catalog import ModelCatalog
from .config import Config
from .core.parked import ParkedRuns
from .core.response_store import ResponseStore
from .drain import Drain
from .errors import ApiError
from .logs import RequestLog
from .metrics import Metrics
from .pool import TokenPool
from .ratelimit import IntervalGate
from .reloader import Reloader
from .settings import Settings
from .stats import SystemStats
from .token_store import TokenStore
from .upstream.client import UpstreamClient
from .upstream.dialects.base import Dialect

config_key = web.AppKey("cursor_api.config", Config)
settings_key = web.AppKey("cursor_api.settings", Settings)
tokens_key = web.AppKey("cursor_api.tokens", TokenStore)
pool_key = web.AppKey("cursor_api.pool", TokenPool)
logs_key = web.AppKey("cursor_api.logs", RequestLog)
upstream_key = web.AppKey("cursor_api.upstream", UpstreamClient)
dialect_key = web.AppKey("cursor_api.dialect", Dialect)
catalog_key = web.AppKey("cursor_api.catalog", ModelCatalog)
started_key = web.AppKey("cursor_api.started", float)
# When the last "client outdated" warning went to the log (one a minute at most).
version_warned_key = web.AppKey[list[float]]("cursor_api.version_warned")
stats_key = web.AppKey("cursor_api.system_stats", SystemStats)
# Serialises POST /config updates and their file writes.
config_lock_key = web.AppKey("cursor_api.config_lock", asyncio.Lock)
reloader_key = web.AppKey("cursor_api.reloader", Reloader)
# POST /userinfo without a key: one account lookup per interval.
userinfo_gate_key = web.AppKey("cursor_api.userinfo_gate", IntervalGate)
# Upstream runs waiting for the results of their tool calls (core/parked.py).
parked_key = web.AppKey("cursor_api.parked", ParkedRuns)
# Error renderers of the routes whose API has its own error shape (Anthropic's), by
# route path; the error middleware falls back to OpenAI's shape.
ErrorShape = Callable[[ApiError], web.Response]
error_shapes_key = web.AppKey[dict[str, ErrorShape]]("cursor_api.error_shapes")
# Responses-API answers kept for previous_response_id and GET /v1/responses/{id}.
responses_key = web.AppKey("cursor_api.responses", ResponseStore)
# The answers in flight, which shutdown waits for and then cuts (drain.py).
drain_key = web.AppKey("cursor_api.drain", Drain)
metrics_key = web.AppKey("cursor_api.metrics", Metrics)
# Access tokens for dashboard API keys (`crsr_…`).
exchange_key = web.AppKey("cursor_api.key_exchange", KeyExchange)
