"""Pick the dialect UPSTREAM_PROTOCOL names."""

from __future__ import annotations

from ...config import Config
from ..client import UpstreamClient
from .agent import AgentDialect
from .base import Dialect
from .legacy import LegacyDialect
from .unified import UnifiedDialect


def make_dialect(client: UpstreamClient, config: Config) -> Dialect:
    name = config.upstream_protocol
    if name == "legacy":
        return LegacyDialect(client, config)
    if name == "unified":
        return UnifiedDialect(client, config)
    return AgentDialect(client, config)


__all__ = ["Dialect", "make_dialect"]
