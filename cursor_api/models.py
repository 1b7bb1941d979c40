"""The built-in model list of docs/service.md §3.3 and the rules attached to it."""

from __future__ import annotations

from .upstream.types import ModelInfo

MODELS_CREATED = 1706659200

BUILTIN_MODELS: tuple[tuple[str, str], ...] = (
    ("claude-3.5-sonnet", "anthropic"),
    ("gpt-4", "openai"),
    ("gpt-4o", "openai"),
    ("claude-3-opus", "anthropic"),
    ("cursor-fast", "cursor"),
    ("cursor-small", "cursor"),
    ("gpt-3.5-turbo", "openai"),
    ("gpt-4-turbo-2024-04-09", "openai"),
    ("gpt-4o-128k", "openai"),
    ("gemini-1.5-flash-500k", "google"),
    ("claude-3-haiku-200k", "anthropic"),
    ("claude-3-5-sonnet-200k", "anthropic"),
    ("claude-3-5-sonnet-20241022", "anthropic"),
    ("gpt-4o-mini", "openai"),
    ("o1-mini", "openai"),
    ("o1-preview", "openai"),
    ("o1", "openai"),
    ("claude-3.5-haiku", "anthropic"),
    ("gemini-exp-1206", "google"),
    ("gemini-2.0-flash-thinking-exp", "google"),
    ("gemini-2.0-flash-exp", "google"),
)

LONG_CONTEXT_MODELS = frozenset(
    {"gpt-4o-128k", "gemini-1.5-flash-500k", "claude-3-haiku-200k", "claude-3-5-sonnet-200k"}
)

PREMIUM_MODELS = frozenset(
    {
        "claude-3-5-sonnet-20241022",
        "claude-3.5-sonnet",
        "gemini-exp-1206",
        "gpt-4",
        "gpt-4-turbo-2024-04-09",
        "gpt-4o",
        "claude-3.5-haiku",
        "gpt-4o-128k",
        "gemini-1.5-flash-500k",
        "claude-3-haiku-200k",
        "claude-3-5-sonnet-200k",
    }
)


def owner_of(model_id: str) -> str:
    """Guess the vendor of a live model id for the `owned_by` field."""
    name = model_id.lower().removeprefix("cursor-")
    for prefix, owner in (
        ("claude", "anthropic"),
        ("gpt", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("gemini", "google"),
        ("grok", "xai"),
        ("deepseek", "deepseek"),
        ("kimi", "moonshot"),
        ("glm", "zhipu"),
    ):
        if name.startswith(prefix):
            return owner
    return "cursor"


def builtin_models() -> list[ModelInfo]:
    """The 21 built-in models in SPEC order."""
    return [ModelInfo(id=mid, owned_by=owner) for mid, owner in BUILTIN_MODELS]


def merge_models(live: list[ModelInfo]) -> list[ModelInfo]:
    """Built-in list first, then live ids it lacks; live capability flags win."""
    live_by_id = {m.id: m for m in live}
    merged = [live_by_id.pop(m.id, m) for m in builtin_models()]
    merged.extend(live_by_id.values())
    return merged
