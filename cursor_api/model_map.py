"""Client model ids → Cursor model ids, for every front-end.

Coding agents ask for their vendor's ids (Claude Code sends `claude-opus-5-5`), which
Cursor does not know. `MODEL_MAP` maps any id explicitly; without an entry, an
Anthropic id (`claude-opus-*`, `claude-sonnet-*`, `claude-haiku-*`, dated or not) goes
to the newest Cursor model of the same tier in the catalog, or to a built-in default
when the catalog has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# The Cursor id each Anthropic tier falls back to when the live catalog lists none
# of that tier (ids from Cursor's 2026 catalogue, docs/agent-protocol.md §4).
TIER_DEFAULTS: dict[str, str] = {
    "opus": "claude-opus-5",
    "sonnet": "claude-sonnet-5",
    "haiku": "claude-4.5-haiku",
}

# `claude-opus-5-5`, `claude-sonnet-4-5-20250929`, `claude-3-5-haiku-latest`, ...
_ANTHROPIC_ID = re.compile(
    r"^claude-(?:(?P<pre>[\d]+(?:[.-]\d+)?)-)?(?P<tier>opus|sonnet|haiku)"
    r"(?:-(?P<post>\d+(?:[.-]\d+)?))?(?:-(?:\d{8}|latest))?$"
)
_NUMBER = re.compile(r"\d+")


def parse_model_map(text: str) -> dict[str, str]:
    """`MODEL_MAP`: `client-id=cursor-id,client-id=cursor-id` (ids hold no `=` or `,`)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        client, sep, cursor = item.partition("=")
        client, cursor = client.strip(), cursor.strip()
        if not sep or not client or not cursor or "=" in cursor:
            raise ValueError(
                f"MODEL_MAP entry {item!r} is not 'client-id=cursor-id' "
                "(entries are separated by commas)"
            )
        out[client] = cursor
    return out


def anthropic_tier(model: str) -> str | None:
    """The tier of an Anthropic model id, or None when it is not one."""
    match = _ANTHROPIC_ID.match(model.lower())
    return match.group("tier") if match else None


def _version(model_id: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _NUMBER.findall(model_id))


def newest_of_tier(tier: str, catalog: Iterable[str]) -> str | None:
    """The catalog's newest plain Cursor id of `tier` (effort-suffixed variants skipped)."""
    best: tuple[tuple[int, ...], str] | None = None
    for model_id in catalog:
        lower = model_id.lower()
        if not lower.startswith("claude") or tier not in lower.split("-"):
            continue
        if lower.endswith(("-high", "-low", "-medium", "-max", "-xhigh", "-thinking")):
            continue
        key = (_version(lower), model_id)
        if best is None or key > best:
            best = key
    return best[1] if best else None


class ModelMap:
    """Resolves what a client asked for to the id sent upstream."""

    def __init__(self, explicit: Mapping[str, str]) -> None:
        self.explicit = dict(explicit)

    def resolve(
        self, model: str, catalog: Iterable[str], *, any_claude: bool = False
    ) -> str | None:
        """The Cursor id for `model`; None when nothing knows it.

        Order: `MODEL_MAP`, the catalog's own ids, the Anthropic tier map, then (with
        `PASS_ANY_CLAUDE`) any other `claude…` id as it is.
        """
        mapped = self.explicit.get(model)
        if mapped is not None:
            return mapped
        ids = catalog if isinstance(catalog, (set, frozenset)) else set(catalog)
        if model in ids:
            return model
        tier = anthropic_tier(model)
        if tier is not None:
            return newest_of_tier(tier, ids) or TIER_DEFAULTS[tier]
        if any_claude and model.startswith("claude"):
            return model
        return None

    def aliases(self) -> list[str]:
        """Client ids /v1/models lists beside the catalog's own."""
        return sorted(self.explicit)
