"""Configuration: every setting (docs/service.md §1), parsed and checked in one place."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from .model_map import parse_model_map

VisionAbility = Literal["none", "base64", "all"]
Dialect = Literal["agent", "unified", "legacy"]
LogFormat = Literal["text", "json"]

VISION_ALIASES: dict[str, VisionAbility] = {
    "none": "none",
    "disabled": "none",
    "base64": "base64",
    "base64-only": "base64",
    "all": "all",
    "base64-http": "all",
}

# Client versions each dialect was seen working with in public ports (docs/protocol.md
# §7.1; the agent one is the CLI build current in October 2026, docs/agent-protocol.md §13.1).
DEFAULT_CLIENT_VERSION: dict[Dialect, str] = {
    "agent": "cli-2026.10.01-e373342",
    "unified": "2.6.21",
    "legacy": "0.42.5",
}

DEFAULT_INSTRUCTIONS = "Respond in Chinese by default"

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# CURSOR_CLIENT_VERSION=auto reads the current CLI build from this install script.
AUTO_CLIENT_VERSION = "auto"
DEFAULT_INSTALL_URL = "https://cursor.com/install"


class ConfigError(ValueError):
    """A bad or missing setting; the message is one line naming the variable."""


@dataclass(frozen=True, slots=True)
class Config:
    """Immutable start-up configuration; tests build it directly."""

    auth_token: str
    host: str = "0.0.0.0"
    port: int = 3000
    shared_auth_token: str = ""
    route_prefix: str = ""
    token_file: Path = Path(".token")
    token_list_file: Path = Path(".token-list")
    enable_stream_check: bool = True
    include_stop_reason_stream: bool = True
    enable_slow_pool: bool = False
    pass_any_claude: bool = False
    vision_ability: VisionAbility = "base64"
    default_instructions: str = DEFAULT_INSTRUCTIONS
    reverse_proxy_host: str = ""
    upstream_url: str = "https://api2.cursor.sh"
    upstream_protocol: Dialect = "agent"
    cursor_web_url: str = "https://www.cursor.com"
    request_body_limit_mb: float = 2
    # Images of one request (VISION_ABILITY base64/all): each, all together, how many.
    image_max_mb: float = 5
    images_total_max_mb: float = 16
    images_max_count: int = 10
    # The most text (millions of characters) a non-streamed answer is collected to.
    answer_buffer_mb: float = 4
    request_logs_limit: int = 1000
    # Entries of callers whose own token the upstream has not accepted yet (logs.py).
    request_logs_unverified_limit: int = 100
    # "auto": the current CLI build, read from `cursor_install_url` (client_version.py).
    client_version: str = ""
    cursor_install_url: str = DEFAULT_INSTALL_URL
    timezone: str = "Asia/Shanghai"
    upstream_timeout_s: float = 30.0
    shutdown_grace_s: float = 30.0
    config_file: Path = Path(".config.json")
    # Agent dialect timings (docs/agent-protocol.md §4): tests shorten them.
    agent_heartbeat_s: float = 5.0
    agent_silence_s: float = 30.0
    # legacy/unified: the longest silence allowed between reads once the answer has
    # started (they have no server heartbeat; the agent dialect uses AGENT_SILENCE_S).
    stream_idle_s: float = 60.0
    # Agent dialect user-message mode (docs/agent-protocol.md §11.2): "agent" is what
    # cursor-agent sends; "ask" is the read-only mode some clients use.
    agent_mode: Literal["agent", "ask"] = "agent"
    # Agent dialect transport: HTTP/2 `Run`, RunSSE + BidiAppend over HTTP/1.1, or
    # HTTP/2 first with the fallback remembered per host (docs/agent-transport.md §5).
    agent_transport: Literal["auto", "http2", "http1"] = "auto"
    # Extra CA certificates (PEM) trusted for the upstream, e.g. a local TLS proxy's.
    upstream_ca_file: str = ""
    # How long an idle upstream connection is kept for reuse: HTTP/1.1 (app._upstream)
    # and HTTP/2 (upstream/h2pool.py, closed this long after its last stream).
    upstream_keepalive_s: float = 15.0
    # Failover: how many pool tokens one request may try before giving up.
    max_token_tries: int = 3
    models_refresh_s: float = 1800.0
    # Tool calling (agent dialect): how long a run waits for its calls' results, and
    # how many runs may wait at once (core/parked.py).
    tool_result_timeout_s: float = 300.0
    tool_parked_max: int = 100
    # Client connections: the time to send a complete request head (from opening, or
    # from the previous answer on a kept-alive one), and how many may be open at once.
    header_timeout_s: float = 60.0
    max_connections: int = 4096
    # Responses API: how long and how many answers are kept for previous_response_id.
    responses_ttl_s: float = 3600.0
    responses_max: int = 1000
    # Streams whose front-end has a ping event (Anthropic) send one after this silence.
    sse_keepalive_s: float = 15.0
    # MODEL_MAP: client model id -> Cursor model id, for every front-end (model_map.py).
    model_map: Mapping[str, str] = field(default_factory=dict)
    # A bearer key that may read /metrics and nothing else (the admin key always may).
    metrics_token: str = ""
    log_level: str = "INFO"
    # "json": one JSON object per server log line, for log shippers (README, Logs).
    log_format: LogFormat = "text"
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.client_version:
            object.__setattr__(
                self, "client_version", DEFAULT_CLIENT_VERSION[self.upstream_protocol]
            )

    @property
    def answer_buffer_chars(self) -> int:
        return int(self.answer_buffer_mb * 1_000_000)

    @property
    def body_limit_bytes(self) -> int:
        return int(self.request_body_limit_mb * 1024 * 1024)

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed (dataclasses.replace, typed loosely for tests)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Build from a mapping of environment variables; raise ConfigError on a bad value."""
        auth = _auth_token(env)
        r = _Reader(env)
        protocol = r.choice("UPSTREAM_PROTOCOL", "agent", ("agent", "unified", "legacy"))
        vision_raw = _vision(r)
        prefix = _route_prefix(r)
        version = _client_version(r, protocol)
        instructions = _instructions(env)
        return cls(
            auth_token=auth,
            host=r.text("HOST", "0.0.0.0"),
            port=r.integer("PORT", 3000, low=0, high=65535),
            shared_auth_token=r.text("SHARED_AUTH_TOKEN", ""),
            route_prefix=prefix,
            token_file=Path(r.text("TOKEN_FILE", ".token")),
            token_list_file=Path(r.text("TOKEN_LIST_FILE", ".token-list")),
            enable_stream_check=r.boolean("ENABLE_STREAM_CHECK", True),
            include_stop_reason_stream=r.boolean("INCLUDE_STOP_REASON_STREAM", True),
            enable_slow_pool=r.boolean("ENABLE_SLOW_POOL", False),
            pass_any_claude=r.boolean("PASS_ANY_CLAUDE", False),
            vision_ability=VISION_ALIASES[vision_raw],
            default_instructions=instructions,
            reverse_proxy_host=r.host("REVERSE_PROXY_HOST"),
            upstream_url=r.url("UPSTREAM_URL", "https://api2.cursor.sh"),
            upstream_protocol=protocol,  # type: ignore[arg-type]
            cursor_web_url=r.url("CURSOR_WEB_URL", "https://www.cursor.com"),
            request_body_limit_mb=r.number("REQUEST_BODY_LIMIT_MB", 2, low=0.001),
            answer_buffer_mb=r.number("ANSWER_BUFFER_MB", 4, low=0.001),
            image_max_mb=r.number("IMAGE_MAX_MB", 5, low=0.001),
            images_total_max_mb=r.number("IMAGES_TOTAL_MAX_MB", 16, low=0.001),
            images_max_count=r.integer("IMAGES_MAX_COUNT", 10, low=1, high=1000),
            request_logs_limit=r.integer("REQUEST_LOGS_LIMIT", 1000, low=1, high=1_000_000),
            request_logs_unverified_limit=r.integer(
                "REQUEST_LOGS_UNVERIFIED_LIMIT", 100, low=1, high=1_000_000
            ),
            client_version=version,
            cursor_install_url=r.url("CURSOR_INSTALL_URL", DEFAULT_INSTALL_URL),
            timezone=r.header("CURSOR_TIMEZONE", "Asia/Shanghai"),
            upstream_timeout_s=r.number("UPSTREAM_TIMEOUT_S", 30, low=0.1),
            shutdown_grace_s=r.number("SHUTDOWN_GRACE_S", 30, low=0),
            config_file=Path(r.text("CONFIG_FILE", ".config.json")),
            agent_heartbeat_s=r.number("AGENT_HEARTBEAT_S", 5, low=0.05),
            agent_silence_s=r.number("AGENT_SILENCE_S", 30, low=0.1),
            stream_idle_s=r.number("STREAM_IDLE_S", 60, low=0.1),
            agent_mode=r.choice("AGENT_MODE", "agent", ("agent", "ask")),  # type: ignore[arg-type]
            agent_transport=r.choice(  # type: ignore[arg-type]
                "AGENT_TRANSPORT", "auto", ("auto", "http2", "http1")
            ),
            upstream_ca_file=r.file("UPSTREAM_CA_FILE"),
            upstream_keepalive_s=r.number("UPSTREAM_KEEPALIVE_S", 15, low=0.1),
            max_token_tries=r.integer("MAX_TOKEN_TRIES", 3, low=1, high=100),
            models_refresh_s=r.number("MODELS_REFRESH_S", 1800, low=1),
            tool_result_timeout_s=r.number("TOOL_RESULT_TIMEOUT_S", 300, low=0.1),
            tool_parked_max=r.integer("TOOL_PARKED_MAX", 100, low=1, high=100_000),
            header_timeout_s=r.number("HEADER_TIMEOUT_S", 60, low=0.1),
            max_connections=r.integer("MAX_CONNECTIONS", 4096, low=1, high=1_000_000),
            model_map=r.model_map("MODEL_MAP"),
            sse_keepalive_s=r.number("SSE_KEEPALIVE_S", 15, low=0.05),
            metrics_token=r.text("METRICS_TOKEN", ""),
            log_level=r.choice("LOG_LEVEL", "info", LOG_LEVELS).upper(),
            responses_ttl_s=r.number("RESPONSES_TTL_S", 3600, low=1),
            responses_max=r.integer("RESPONSES_MAX", 1000, low=1, high=1_000_000),
            log_format=r.choice("LOG_FORMAT", "text", ("text", "json")),  # type: ignore[arg-type]
        )


def _auth_token(env: Mapping[str, str]) -> str:
    auth = env.get("AUTH_TOKEN", "").strip()
    if not auth:
        raise ConfigError(
            "AUTH_TOKEN is not set: set it in the environment or in .env "
            "(it is the admin bearer key for this service)"
        )
    return auth


def _vision(r: _Reader) -> str:
    vision_raw = r.text("VISION_ABILITY", "base64").lower()
    if vision_raw not in VISION_ALIASES:
        raise ConfigError(
            f"VISION_ABILITY={vision_raw!r} is not one of {', '.join(sorted(VISION_ALIASES))}"
        )
    return vision_raw


def _route_prefix(r: _Reader) -> str:
    prefix = r.text("ROUTE_PREFIX", "").rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ConfigError(f"ROUTE_PREFIX={prefix!r} must start with '/' (e.g. /cursor)")
    return prefix


def _client_version(r: _Reader, protocol: str) -> str:
    version = r.header("CURSOR_CLIENT_VERSION", "")
    if version.lower() == AUTO_CLIENT_VERSION:
        version = AUTO_CLIENT_VERSION
        if protocol != "agent":
            raise ConfigError(
                "CURSOR_CLIENT_VERSION=auto reads Cursor's CLI build, which only the agent "
                "dialect sends: set UPSTREAM_PROTOCOL=agent or an explicit version"
            )
    return version


def _instructions(env: Mapping[str, str]) -> str:
    instructions = env.get("DEFAULT_INSTRUCTIONS", DEFAULT_INSTRUCTIONS)
    # A single space is the documented way to send no instructions at all.
    if instructions == " ":
        instructions = ""
    return instructions


class _Reader:
    """Typed accessors that turn a bad value into one ConfigError line."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        value = self.env.get(name)
        return default if value is None else value.strip()

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).lower() or default
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name, "").lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.text(name, "")
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an integer") from None
        if not low <= number <= high:
            raise ConfigError(f"{name}={number} is out of range {low}..{high}")
        return number

    def number(self, name: str, default: float, *, low: float) -> float:
        value = self.text(name, "")
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a number") from None
        if not number >= low:
            raise ConfigError(f"{name}={value} must be at least {low}")
        if not math.isfinite(number):
            raise ConfigError(f"{name}={value} must be a finite number")
        return number

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/") or default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}={value!r} is not an http(s) URL (e.g. {default})")
        return value

    def model_map(self, name: str) -> dict[str, str]:
        try:
            return parse_model_map(self.text(name, ""))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def header(self, name: str, default: str) -> str:
        """A value sent upstream as an HTTP header: printable ASCII only."""
        value = self.text(name, default) or default
        if not all(" " <= ch <= "~" for ch in value):
            raise ConfigError(f"{name}={value!r} may hold only printable ASCII characters")
        return value

    def file(self, name: str) -> str:
        value = self.text(name, "")
        if value and not Path(value).is_file():
            raise ConfigError(f"{name}={value!r} is not a readable file (a PEM bundle of CAs)")
        return value

    def host(self, name: str) -> str:
        value = self.text(name, "")
        if value and ("/" in value or " " in value):
            raise ConfigError(f"{name}={value!r} must be a bare host name, e.g. proxy.example")
        return value
