"""Where the admin pages and their static assets live, in a checkout or an installed wheel."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Literal

from aiohttp import web

from . import keys
from .errors import ApiError

Kind = Literal["pages", "static"]

# A source checkout keeps pages/ and static/ beside the package; a wheel installs them
# under <prefix>/share/cursor-api/ (setup.cfg [options.data_files]).
_REPO_ROOT = Path(__file__).resolve().parent.parent
_SHARE = Path("share") / "cursor-api"


@functools.cache
def data_dir(kind: Kind) -> Path:
    """The `pages/` or `static/` directory: the checkout's first, then the install prefix's."""
    candidates = [_REPO_ROOT / kind]
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        candidates.append(Path(prefix) / _SHARE / kind)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    # Nothing installed: name the checkout's path so the 404 says where we looked.
    return candidates[0]


def _plain_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def page_path(name: str) -> Path:
    """The path of `pages/<name>`; `name` must be a plain file name."""
    return data_dir("pages") / _plain_name(name)


def static_path(name: str) -> Path:
    """The path of `static/<name>`; `name` must be a plain file name."""
    return data_dir("static") / _plain_name(name)


def page_override(request: web.Request) -> web.Response | None:
    """The admin's custom text/html for this path, set through POST /config (docs/service.md §6)."""
    page = request.app[keys.settings_key].pages.get(request.path)
    if page is None or page.type == "default":
        return None
    content_type = "text/html" if page.type == "html" else "text/plain"
    return web.Response(text=page.content, content_type=content_type)


def missing(what: str, path: Path) -> ApiError:
    """A packaged file is absent: say where we looked and how to fix it."""
    return ApiError(
        404,
        f"{what} is not installed (looked for {path}); reinstall cursor-api",
        type="not_found_error",
        code="page_missing",
    )


async def serve_page(request: web.Request, name: str) -> web.StreamResponse:
    """Answer with `pages/<name>` as HTML (or its override), 404 naming where it was looked for."""
    override = page_override(request)
    if override is not None:
        return override
    path = page_path(name)
    if not path.is_file():
        raise missing(f"page {name}", path)
    return web.FileResponse(
        path,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"},
    )
