"""Settings an admin may change at runtime through /config (docs/service.md §6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .config import Config, VisionAbility

UsageModelsType = Literal["none", "default", "all", "list"]
ContentType = Literal["default", "text", "html"]


@dataclass(slots=True)
class PageOverride:
    """What a page path serves instead of its default."""

    type: ContentType = "default"
    content: str = ""


@dataclass(slots=True)
class Settings:
    """The mutable, app-scoped settings; each request reads them afresh."""

    enable_stream_check: bool
    include_stop_stream: bool
    vision_ability: VisionAbility
    enable_slow_pool: bool
    enable_all_claude: bool
    check_usage_models_type: UsageModelsType = "default"
    check_usage_models_list: tuple[str, ...] = ()
    pages: dict[str, PageOverride] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            enable_stream_check=config.enable_stream_check,
            include_stop_stream=config.include_stop_reason_stream,
            vision_ability=config.vision_ability,
            enable_slow_pool=config.enable_slow_pool,
            enable_all_claude=config.pass_any_claude,
        )
