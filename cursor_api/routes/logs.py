"""POST /logs: the request log for the admin, or a user's own entries (docs/service.md §5)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from .. import keys
from ..errors import unauthorized
from .common import caller_of


async def post_logs(request: web.Request) -> web.Response:
    caller = caller_of(request)
    log = request.app[keys.logs_key]
    if caller.tier == "admin":
        entries = list(log)
    elif caller.tier == "user" and caller.token is not None:
        entries = log.for_token(caller.token.token)
    else:
        raise unauthorized("the logs need the admin key or your own 'token,checksum'")
    return web.json_response(
        {
            "status": "success",
            "total": log.total if caller.tier == "admin" else len(entries),
            "active": log.active
            if caller.tier == "admin"
            else sum(e.status == "pending" for e in entries),
            "error": log.errors
            if caller.tier == "admin"
            else sum(e.status == "failed" for e in entries),
            "logs": [e.as_dict() for e in entries],
            "timestamp": datetime.now().astimezone().isoformat(timespec="milliseconds"),
        }
    )
