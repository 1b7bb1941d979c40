"""The application factory: one web.Application holding every app-wide object."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import aiohttp
from aiohttp import web

from . import account, keys, request_id
from .api_keys import KeyExchange
from .catalog import ModelCatalog
from .config import AUTO_CLIENT_VERSION, Config
from .core.parked import ParkedRuns
from .core.response_store import ResponseStore
from .drain import Drain
from .logs import RequestLog
from .malformed_log import malformed_log
from .metrics import Metrics
from .middlewares import error_middleware
from .model_map import ModelMap
from .pool import TokenPool
from .request_id import request_id_middleware
from .routes import admin, setup_routes
from .settings import Settings
from .token_store import TokenStore
from .upstream.client import UpstreamClient
from .upstream.client_version import InstallScriptVersion
from .upstream.dialects import make_dialect
from .upstream.h2pool import tls_context
from .upstream.types import ModelInfo

log = logging.getLogger(__name__)


def create_app(config: Config) -> web.Application:
    """Wire config, state, upstream and routes; tests and __main__ share this."""
    app = web.Application(
        # The request id first, so the error middleware's log lines carry it too.
        middlewares=[request_id_middleware, error_middleware],
        # read_json answers 413 itself with a clear message; a little slack here
        # lets it see the size rather than aiohttp cutting the connection.
        client_max_size=config.body_limit_bytes + 1,
        handler_args=server_settings(config),
    )
    app[keys.config_key] = config
    app[keys.settings_key] = Settings.from_config(config)
    store = TokenStore(config.token_file, config.token_list_file)
    app[keys.tokens_key] = store
    pool = app[keys.pool_key] = TokenPool(store)
    logs = app[keys.logs_key] = RequestLog(
        config.request_logs_limit, config.request_logs_unverified_limit
    )
    metrics = app[keys.metrics_key] = Metrics(config.upstream_protocol, pool)
    logs.on_finish.append(metrics.observe)
    request_id.setup(app)
    app[keys.responses_key] = ResponseStore(config.responses_ttl_s, config.responses_max)
    app[keys.started_key] = time.time()
    app[keys.version_warned_key] = [-1e9]
    app[keys.drain_key] = Drain()
    app.cleanup_ctx.append(malformed_log)
    app.cleanup_ctx.append(_load_tokens)
    app.cleanup_ctx.append(_upstream)
    # After _upstream, so parked runs are closed before the upstream session is.
    app.cleanup_ctx.append(_parked_runs)
    account.setup(app)
    app.cleanup_ctx.append(admin.runtime_settings)
    app.cleanup_ctx.append(admin.system_stats)
    setup_routes(app, config.route_prefix)
    return app


def server_settings(config: Config) -> dict[str, Any]:
    """How aiohttp's server treats client connections (tests and __main__ alike).

    - Bodies arrive as sent: read_json inflates them itself, stopping at the body
      limit. aiohttp would inflate a body no handler reads in full while draining it
      (a 1 MB gzip body of zeros is 1 GiB and seconds of CPU).
    - aiohttp's keep-alive timer runs from a connection's start and from each
      answer until the next request head is complete, and bytes arriving meanwhile
      do not reset it: HEADER_TIMEOUT_S bounds both a silent or trickling new
      connection and an idle keep-alive one.
    """
    return {"auto_decompress": False, "keepalive_timeout": config.header_timeout_s}


async def _load_tokens(app: web.Application) -> AsyncIterator[None]:
    store = app[keys.tokens_key]
    for warning in await asyncio.to_thread(store.load):
        log.warning("%s", warning)
    yield


async def _parked_runs(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.config_key]
    runs = ParkedRuns(config.tool_result_timeout_s, config.tool_parked_max)
    app[keys.parked_key] = runs
    app[keys.metrics_key].count_parked(runs.__len__)
    yield
    await runs.close()


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    """One ClientSession for the app's life; no total timeout (streams run long).

    No limit on connections (a turn holds one for minutes; a cap would queue turns),
    so the pool after a burst holds one idle connection per turn that ran at once
    (two on the HTTP/1.1 agent fallback, docs/agent-transport.md §6.3). aiohttp has no cap
    on idle connections, only their idle time: UPSTREAM_KEEPALIVE_S closes them
    (within twice that, as its sweep runs on that period), so descriptors return to
    idle after a burst. Short, too, so that we never reuse a connection a load
    balancer is closing at its own idle limit (often 60 s). The HTTP/2 pool
    (upstream/h2pool.py) closes its connections after the same idle time.
    """
    config = app[keys.config_key]
    ssl: ssl_module.SSLContext | bool = True
    if config.upstream_ca_file:
        ssl = tls_context(config.upstream_ca_file)
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, keepalive_timeout=config.upstream_keepalive_s, ssl=ssl
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=config.upstream_timeout_s)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=True
    ) as session:
        client = UpstreamClient(session, config)
        dialect = make_dialect(client, config)
        app[keys.upstream_key] = client
        app[keys.dialect_key] = dialect
        exchange = app[keys.exchange_key] = KeyExchange(client)
        # Before anything calls the upstream: the first call already sends the build.
        follow = await _follow_client_version(config, client)
        pool = app[keys.pool_key]

        async def fetch() -> list[ModelInfo]:
            return await dialect.list_models(await exchange.credential(pool.peek()))

        always = (ModelInfo("auto"),) if config.upstream_protocol == "agent" else ()
        catalog = ModelCatalog(fetch, config.models_refresh_s, always, ModelMap(config.model_map))
        app[keys.catalog_key] = catalog
        app[keys.metrics_key].known_models = catalog
        if len(pool):
            catalog.refresh_soon()
        yield
        await catalog.close()
        await exchange.close()
        if follow is not None:
            follow.cancel()
            with suppress(asyncio.CancelledError):
                await follow
        await client.close()


async def _follow_client_version(
    config: Config, client: UpstreamClient
) -> asyncio.Task[None] | None:
    """With CURSOR_CLIENT_VERSION=auto: read the current CLI build now, then once a day."""
    if config.client_version != AUTO_CLIENT_VERSION:
        return None
    watcher = InstallScriptVersion(client, config.cursor_install_url)
    await watcher.refresh()
    return asyncio.get_running_loop().create_task(watcher.run())
