"""GET /metrics: the Prometheus exposition of the app's registry (README, Metrics)."""

from __future__ import annotations

from aiohttp import hdrs, web
from prometheus_client.exposition import choose_encoder

from .. import keys
from ..auth import bearer, identify, reads_metrics
from ..errors import ApiError


async def get_metrics(request: web.Request) -> web.Response:
    """Text format by default; OpenMetrics when the scraper asks for it in `Accept`."""
    config = request.app[keys.config_key]
    key = bearer(request.headers.get(hdrs.AUTHORIZATION))
    if not reads_metrics(key, config):
        known = identify(key, config) is not None
        raise ApiError(
            403 if known else 401,
            "GET /metrics needs the admin key (AUTH_TOKEN) or METRICS_TOKEN as "
            "'Authorization: Bearer <key>'",
            type="permission_error" if known else "authentication_error",
            code="metrics_key_required",
        )
    encoder, content_type = choose_encoder(request.headers.get(hdrs.ACCEPT, ""))
    body = encoder(request.app[keys.metrics_key].registry)
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})
