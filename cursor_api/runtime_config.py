"""Runtime settings changed through /config: validated, applied, persisted (docs/service.md §6).

Pure code: nothing here imports aiohttp. `parse_changes` turns a `POST /config` body
into a list of changes (raising `ConfigRequestError` naming the field), `apply` makes
them, and `save`/`restore` keep the settings that differ from the environment's
defaults in CONFIG_FILE, so a later change to `.env` still takes effect for every
setting nobody changed at runtime.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from .config import VISION_ALIASES
from .settings import ContentType, PageOverride, Settings, UsageModelsType
from .token_files import atomic_write

log = logging.getLogger(__name__)

FILE_VERSION = 1

# The paths whose page an admin may override (docs/service.md §6), in the order the page lists them.
PAGE_PATHS = (
    "/",
    "/logs",
    "/config",
    "/tokeninfo",
    "/static/shared-styles.css",
    "/static/shared.js",
    "/about",
    "/readme",
    "/api",
)

BOOL_FIELDS = (
    "enable_stream_check",
    "include_stop_stream",
    "enable_slow_pool",
    "enable_all_claude",
)
CONTENT_TYPES: tuple[ContentType, ...] = ("default", "text", "html")
USAGE_TYPES: tuple[UsageModelsType, ...] = ("none", "default", "all", "list")

Action = Literal["get", "update", "reset"]


class ConfigRequestError(ValueError):
    """A `POST /config` body we refuse; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Change:
    """One named setting: its new value for an update, None for a reset."""

    name: str  # a Settings field, "check_usage_models" or "page:<path>"
    value: object = None


@dataclass(frozen=True, slots=True)
class ConfigRequest:
    """A parsed `POST /config` body."""

    action: Action
    path: str | None
    changes: tuple[Change, ...]


def parse_request(body: object) -> ConfigRequest:
    """Check a `POST /config` body; every refusal names the field."""
    if not isinstance(body, dict):
        raise ConfigRequestError("body", "the request body must be a JSON object")
    action = body.get("action")
    if action not in ("get", "update", "reset"):
        raise ConfigRequestError(
            "action", f"'action' must be 'get', 'update' or 'reset', not {_show(action)}"
        )
    path = _path(body.get("path"))
    changes: list[Change] = []
    if action != "get":
        reset = action == "reset"
        if path is not None:
            page = _page_change(body, path, reset)
            if page is not None:
                changes.append(page)
        for name in BOOL_FIELDS:
            value = body.get(name)
            if value is None:
                continue
            if not reset and not isinstance(value, bool):
                raise ConfigRequestError(name, f"'{name}' must be true or false")
            changes.append(Change(name, None if reset else value))
        vision = body.get("vision_ability")
        if vision is not None:
            changes.append(Change("vision_ability", None if reset else _vision(vision)))
        usage = body.get("check_usage_models")
        if usage is not None:
            changes.append(Change("check_usage_models", None if reset else _usage(usage)))
        if not changes:
            raise ConfigRequestError(
                "body",
                f"this {action} names nothing to change: give 'path' with 'content' or one of "
                "enable_stream_check, include_stop_stream, vision_ability, enable_slow_pool, "
                "enable_all_claude, check_usage_models",
            )
    return ConfigRequest(cast(Action, action), path, tuple(changes))


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _path(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigRequestError("path", "'path' must be a string")
    if value not in PAGE_PATHS:
        raise ConfigRequestError(
            "path", f"'path' {_show(value)} is not a page path: one of {', '.join(PAGE_PATHS)}"
        )
    return value


def _page_change(body: Mapping[str, Any], path: str, reset: bool) -> Change | None:
    """The page override a request names, or None when it names only the path."""
    content = body.get("content")
    content_type = body.get("content_type")
    if reset:
        return Change(f"page:{path}", None)
    if content is None and content_type is None:
        # A page may send its current path along with other fields: not a page change.
        return None
    if isinstance(content, dict):
        # The original's shape: {"type": "text"|"html"|"default", "content": "..."}.
        content_type = content.get("type")
        content = content.get("content")
        field = "content.type"
        text_field = "content.content"
    else:
        field = "content_type"
        text_field = "content"
        if content_type is None:
            # A bare string is served as text: it can never run script by accident.
            content_type = "text"
    if content_type not in CONTENT_TYPES:
        raise ConfigRequestError(
            field, f"'{field}' must be 'default', 'text' or 'html', not {_show(content_type)}"
        )
    if content_type == "default":
        return Change(f"page:{path}", PageOverride())
    if not isinstance(content, str):
        raise ConfigRequestError(
            text_field, f"'{text_field}' must be a string for a {content_type} page"
        )
    return Change(f"page:{path}", PageOverride(cast(ContentType, content_type), content))


def _vision(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in VISION_ALIASES:
        raise ConfigRequestError(
            "vision_ability",
            f"'vision_ability' must be one of {', '.join(VISION_ALIASES)}, not {_show(value)}",
        )
    return VISION_ALIASES[value.strip().lower()]


def _usage(value: object) -> tuple[UsageModelsType, tuple[str, ...]]:
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        raise ConfigRequestError(
            "check_usage_models",
            '\'check_usage_models\' must be an object {"type": ..., "content": "m1,m2"}',
        )
    kind = value.get("type")
    if kind not in USAGE_TYPES:
        raise ConfigRequestError(
            "check_usage_models.type",
            "'check_usage_models.type' must be 'none', 'default', 'all' or 'list', "
            f"not {_show(kind)}",
        )
    models: tuple[str, ...] = ()
    if kind == "list":
        content = value.get("content", "")
        if isinstance(content, list) and all(isinstance(m, str) for m in content):
            content = ",".join(content)
        if not isinstance(content, str):
            raise ConfigRequestError(
                "check_usage_models.content",
                "'check_usage_models.content' must be a comma-separated string of model ids",
            )
        models = tuple(dict.fromkeys(m.strip() for m in content.split(",") if m.strip()))
    return cast(UsageModelsType, kind), models


def apply(settings: Settings, defaults: Settings, changes: tuple[Change, ...]) -> None:
    """Make the changes; a None value puts the default back."""
    for change in changes:
        if change.name.startswith("page:"):
            path = change.name.removeprefix("page:")
            page = change.value
            if page is None or (isinstance(page, PageOverride) and page.type == "default"):
                settings.pages.pop(path, None)
            else:
                settings.pages[path] = cast(PageOverride, page)
        elif change.name == "check_usage_models":
            if change.value is None:
                kind, models = defaults.check_usage_models_type, defaults.check_usage_models_list
            else:
                kind, models = cast(tuple[UsageModelsType, tuple[str, ...]], change.value)
            settings.check_usage_models_type = kind
            settings.check_usage_models_list = models
        else:
            value = getattr(defaults, change.name) if change.value is None else change.value
            setattr(settings, change.name, value)


def page_content(settings: Settings, path: str | None) -> dict[str, str]:
    """`{"type", "content"}` of one page path (default when none is given)."""
    page = settings.pages.get(path or "") or PageOverride()
    return {"type": page.type, "content": page.content}


def current_values(settings: Settings, path: str | None) -> dict[str, object]:
    """What `POST /config get` reports under `data`."""
    return {
        "page_content": page_content(settings, path),
        **_values(settings),
        "pages": {p: page_content(settings, p) for p in PAGE_PATHS},
    }


def _values(settings: Settings) -> dict[str, object]:
    return {
        "enable_stream_check": settings.enable_stream_check,
        "include_stop_stream": settings.include_stop_stream,
        "vision_ability": settings.vision_ability,
        "enable_slow_pool": settings.enable_slow_pool,
        "enable_all_claude": settings.enable_all_claude,
        "check_usage_models": {
            "type": settings.check_usage_models_type,
            "content": ",".join(settings.check_usage_models_list),
        },
    }


def snapshot(settings: Settings, defaults: Settings) -> dict[str, object]:
    """The file's content: only what differs from the defaults."""
    data: dict[str, object] = {"version": FILE_VERSION}
    mine, base = _values(settings), _values(defaults)
    for name, value in mine.items():
        if value != base[name]:
            data[name] = value
    if settings.pages:
        data["pages"] = {
            path: {"type": page.type, "content": page.content}
            for path, page in settings.pages.items()
        }
    return data


def save(path: Path, data: dict[str, object]) -> None:
    """Write a snapshot atomically (blocking: call through asyncio.to_thread)."""
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def restore(
    path: Path,
    settings: Settings,
    defaults: Settings,
    clock: Callable[[], float] = time.time,
) -> str | None:
    """Apply a saved snapshot; returns a warning when the file was set aside (blocking)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return _set_aside(path, f"cannot be read ({exc})", clock)
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
        changes = _saved_changes(data)
    except (json.JSONDecodeError, ConfigRequestError, RecursionError) as exc:
        return _set_aside(path, f"is not a valid config file ({exc})", clock)
    apply(settings, defaults, changes)
    log.info("runtime settings restored from %s", path)
    return None


def _saved_changes(data: object) -> tuple[Change, ...]:
    """A snapshot as changes, checked with the same rules as a request."""
    if not isinstance(data, dict):
        raise ConfigRequestError("file", "the top level must be a JSON object")
    if data.get("version", FILE_VERSION) != FILE_VERSION:
        raise ConfigRequestError("version", f"unknown version {_show(data.get('version'))}")
    body = {k: v for k, v in data.items() if k not in ("version", "pages")}
    changes: list[Change] = []
    if body:
        changes.extend(parse_request({"action": "update", **body}).changes)
    pages = data.get("pages", {})
    if not isinstance(pages, dict):
        raise ConfigRequestError("pages", "'pages' must be an object")
    for page_path, content in pages.items():
        request = parse_request({"action": "update", "path": page_path, "content": content})
        changes.extend(request.changes)
    return tuple(changes)


def _set_aside(path: Path, why: str, clock: Callable[[], float]) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.replace(aside)
    except OSError as exc:
        return f"CONFIG_FILE {path} {why}; could not set it aside ({exc}); using defaults"
    return f"CONFIG_FILE {path} {why}; moved it to {aside.name} and started with defaults"
