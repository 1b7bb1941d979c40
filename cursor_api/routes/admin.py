"""Health, runtime config and the admin pages (docs/service.md §6)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web

from .. import __version__, keys, runtime_config
from ..auth import bearer, identify
from ..errors import ApiError, bad_request
from ..markdown import render
from ..pages import data_dir, missing, page_override, page_path, serve_page, static_path
from ..settings import Settings
from ..stats import SystemStats
from .common import admin_of, read_json
from .expect import add_get

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 2.0


async def system_stats(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: sample memory and CPU every couple of seconds."""
    stats = SystemStats()
    stats.sample()
    app[keys.stats_key] = stats

    async def run() -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            stats.sample()

    task = asyncio.get_running_loop().create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def runtime_settings(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: restore the settings saved by /config before serving."""
    config = app[keys.config_key]
    app[keys.config_lock_key] = asyncio.Lock()
    warning = await asyncio.to_thread(
        runtime_config.restore,
        config.config_file,
        app[keys.settings_key],
        Settings.from_config(config),
    )
    if warning:
        log.warning("%s", warning)
    yield


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPTemporaryRedirect("/health")


async def health(request: web.Request) -> web.Response:
    """Liveness plus, for the admin, request counters and process stats."""
    app = request.app
    started = app[keys.started_key]
    payload: dict[str, object] = {
        "status": "healthy",
        "version": __version__,
        "uptime": round(time.time() - started, 3),
        "models": [m.id for m in app[keys.catalog_key].models],
        "endpoints": _endpoints(app),
    }
    # Public for monitors; a wrong key is not an error here, it only hides the stats.
    caller = identify(bearer(request.headers.get("Authorization")), app[keys.config_key])
    if caller is not None and caller.tier == "admin":
        logs = app[keys.logs_key]
        stats = app[keys.stats_key]
        payload["stats"] = {
            "started": datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
            "total_requests": logs.total,
            "active_requests": logs.active,
            "error_requests": logs.errors,
            "system": {
                "memory": {"rss": stats.rss},
                "cpu": {"usage": stats.cpu_percent},
            },
        }
    return web.json_response(payload)


def _endpoints(app: web.Application) -> list[str]:
    seen: dict[str, None] = {}
    for route in app.router.routes():
        # "*" is the catch-all that answers 404/405 (routes/expect.py), not an endpoint.
        if route.method in ("HEAD", "OPTIONS", "*") or route.resource is None:
            continue
        seen.setdefault(route.resource.canonical, None)
    return list(seen)


async def post_config(request: web.Request) -> web.Response:
    """`POST /config`: get, update or reset runtime settings (admin)."""
    admin_of(request)
    body = await read_json(request)
    try:
        parsed = runtime_config.parse_request(body)
    except runtime_config.ConfigRequestError as exc:
        raise bad_request(str(exc), param=exc.field, code="invalid_config") from None
    app = request.app
    settings = app[keys.settings_key]
    if parsed.action == "get":
        return web.json_response(
            {"status": "success", "data": runtime_config.current_values(settings, parsed.path)}
        )
    config = app[keys.config_key]
    defaults = Settings.from_config(config)
    names = ", ".join(
        f"page {c.name.removeprefix('page:')}" if c.name.startswith("page:") else c.name
        for c in parsed.changes
    )
    # The lock keeps the file in the order the changes were made.
    async with app[keys.config_lock_key]:
        # Tried on a copy first: a change that fails on the way to the file (anything
        # but the disk itself) changes nothing.
        trial = copy.deepcopy(settings)
        runtime_config.apply(trial, defaults, parsed.changes)
        snapshot = runtime_config.snapshot(trial, defaults)
        try:
            await asyncio.to_thread(runtime_config.save, config.config_file, snapshot)
        except OSError as exc:
            runtime_config.apply(settings, defaults, parsed.changes)
            log.warning("could not save runtime settings to %s: %s", config.config_file, exc)
            raise ApiError(
                500,
                f"the change is in effect but could not be saved to CONFIG_FILE "
                f"({config.config_file}): {exc.strerror or exc}; it will be lost on restart",
                type="server_error",
                code="config_not_saved",
            ) from None
        runtime_config.apply(settings, defaults, parsed.changes)
    verb = "updated" if parsed.action == "update" else "reset to default"
    return web.json_response({"status": "success", "message": f"{verb}: {names}"})


# ---- pages ------------------------------------------------------------------

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

README_MARKER = "<!--README-->"
STATIC_TYPES = {
    "shared-styles.css": "text/css; charset=utf-8",
    "shared.js": "text/javascript; charset=utf-8",
}


def overridable(handler: PageHandler) -> PageHandler:
    """Serve the admin's text/html override of the request's path when one is set."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return page_override(request) or await handler(request)

    return serve


def page(name: str) -> PageHandler:
    """A handler serving `pages/<name>`."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return await serve_page(request, name)

    return serve


def static(name: str) -> PageHandler:
    """A handler serving one named file of `static/` (no other path is reachable)."""
    content_type = STATIC_TYPES[name]

    async def serve(request: web.Request) -> web.StreamResponse:
        path = static_path(name)
        if not path.is_file():
            raise missing(f"static file {name}", path)
        return web.FileResponse(
            path, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
        )

    return serve


async def about(request: web.Request) -> web.StreamResponse:
    raise web.HTTPTemporaryRedirect("/readme")


def share_file(name: str) -> Path:
    """A top-level file of the project (README.md, .env-example): checkout, then install."""
    candidates = [data_dir("pages").parent / name]
    candidates += [Path(p) / "share" / "cursor-api" / name for p in (sys.prefix, sys.base_prefix)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


def _readme_html() -> str:
    readme = share_file("README.md")
    template = page_path("readme.html")
    if not readme.is_file():
        raise missing("README.md", readme)
    if not template.is_file():
        raise missing("readme.html", template)
    html = template.read_text(encoding="utf-8")
    body = render(readme.read_text(encoding="utf-8"))
    if README_MARKER in html:
        return html.replace(README_MARKER, body, 1)
    return html.replace("</body>", body + "</body>", 1)


async def readme(request: web.Request) -> web.StreamResponse:
    """This project's README rendered into pages/readme.html."""
    html = await asyncio.to_thread(_readme_html)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-cache"})


async def env_example(request: web.Request) -> web.StreamResponse:
    """The documented `.env-example`, as text."""
    path = share_file(".env-example")
    if not path.is_file():
        raise missing(".env-example", path)
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    return web.Response(text=text, content_type="text/plain")


async def favicon(request: web.Request) -> web.StreamResponse:
    # Browsers ask for it on every page; a 404 there is an error in each page's console.
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


def setup_pages(router: web.UrlDispatcher) -> None:
    """Register every page route, each overridable through /config."""
    pages: dict[str, PageHandler] = {
        "/": root,
        "/logs": page("logs.html"),
        "/config": page("config.html"),
        "/static/shared-styles.css": static("shared-styles.css"),
        "/static/shared.js": static("shared.js"),
        "/about": about,
        "/readme": readme,
        "/api": page("api.html"),
    }
    # /tokeninfo is registered with the token routes; serve_page applies its override.
    for path, handler in pages.items():
        add_get(router, path, overridable(handler))
    add_get(router, "/env-example", env_example)
    add_get(router, "/favicon.ico", favicon)
