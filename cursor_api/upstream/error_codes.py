"""The upstream's error codes and names, and the HTTP status each maps to (pure data).

Connect codes and gRPC numbers, Cursor's `ERROR_` names with their enum numbers and
our statuses (docs/protocol.md §3, docs/agent-protocol.md §9), and the sets of names
the pool, the failover and the retry advice act on.
"""

from __future__ import annotations

from enum import StrEnum


class ConnectCode(StrEnum):
    """Connect status codes, spelled as they appear in Connect error JSON."""

    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_ARGUMENT = "invalid_argument"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    OUT_OF_RANGE = "out_of_range"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DATA_LOSS = "data_loss"
    UNAUTHENTICATED = "unauthenticated"

    @classmethod
    def parse(cls, value: object) -> ConnectCode | None:
        """The code a JSON value names, or None: servers and proxies send odd things."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value.strip().lower())
        except ValueError:
            return None


# gRPC's numeric status -> Connect code: gRPC-web trailers carry numbers (0 is OK).
GRPC_CODES: dict[int, ConnectCode] = {
    1: ConnectCode.CANCELED,
    2: ConnectCode.UNKNOWN,
    3: ConnectCode.INVALID_ARGUMENT,
    4: ConnectCode.DEADLINE_EXCEEDED,
    5: ConnectCode.NOT_FOUND,
    6: ConnectCode.ALREADY_EXISTS,
    7: ConnectCode.PERMISSION_DENIED,
    8: ConnectCode.RESOURCE_EXHAUSTED,
    9: ConnectCode.FAILED_PRECONDITION,
    10: ConnectCode.ABORTED,
    11: ConnectCode.OUT_OF_RANGE,
    12: ConnectCode.UNIMPLEMENTED,
    13: ConnectCode.INTERNAL,
    14: ConnectCode.UNAVAILABLE,
    15: ConnectCode.DATA_LOSS,
    16: ConnectCode.UNAUTHENTICATED,
}
GRPC_STATUS: dict[ConnectCode, int] = {code: number for number, code in GRPC_CODES.items()}

# docs/protocol.md §3.3: the fallback when the ERROR_ name is missing or unknown.
CONNECT_STATUS: dict[ConnectCode, int] = {
    ConnectCode.CANCELED: 499,
    ConnectCode.UNKNOWN: 500,
    ConnectCode.INVALID_ARGUMENT: 400,
    ConnectCode.DEADLINE_EXCEEDED: 504,
    ConnectCode.NOT_FOUND: 404,
    ConnectCode.ALREADY_EXISTS: 409,
    ConnectCode.PERMISSION_DENIED: 403,
    ConnectCode.RESOURCE_EXHAUSTED: 429,
    ConnectCode.FAILED_PRECONDITION: 400,
    ConnectCode.ABORTED: 409,
    ConnectCode.OUT_OF_RANGE: 400,
    ConnectCode.UNIMPLEMENTED: 501,
    ConnectCode.INTERNAL: 500,
    ConnectCode.UNAVAILABLE: 503,
    ConnectCode.DATA_LOSS: 500,
    ConnectCode.UNAUTHENTICATED: 401,
}

# ERROR_ name -> (enum number of aiserver.v1.ErrorDetails.Error, our HTTP status).
# Numbers 0-41 and their statuses are docs/protocol.md §3.2 exactly (25 and 42 are enum
# values that table does not list). 42-65 are the agent-era values of the enum as public
# clients list it (docs/agent-protocol.md §9); their statuses are our choice:
# - rate limits (50, 51) and the slow pool (63: this account is out of fast
#   requests) are 429, so the pool cools the token and tries another;
# - usage/pricing gates (44, 45, 62) stay 500 like FREE/PRO_USER_USAGE_LIMIT in
#   docs/protocol.md §3.2: a 402 would invent a status no OpenAI client handles, and a 429 would
#   make clients retry what will not pass before the next billing cycle;
# - request-shaped refusals (42: the *user's* provider key, never our token; 43, 58,
#   60, 61) are 400, so the client is told and no token is benched;
# - 54 (suspicious usage) and 64 (region) are 403: per-account/egress refusals;
#   65 (account closed) is 403 and a bad token (BAD_TOKEN below);
# - 25 and 55 are timeouts (504), 56 a network failure behind Cursor (502);
# - everything else (provider errors, GitHub integrations, hooks) is 500.
ERRORS: dict[str, tuple[int, int]] = {
    "ERROR_UNSPECIFIED": (0, 500),
    "ERROR_BAD_API_KEY": (1, 401),
    "ERROR_NOT_LOGGED_IN": (2, 403),
    "ERROR_INVALID_AUTH_ID": (3, 401),
    "ERROR_NOT_HIGH_ENOUGH_PERMISSIONS": (4, 403),
    "ERROR_BAD_MODEL_NAME": (5, 400),
    "ERROR_USER_NOT_FOUND": (6, 404),
    "ERROR_FREE_USER_RATE_LIMIT_EXCEEDED": (7, 429),
    "ERROR_PRO_USER_RATE_LIMIT_EXCEEDED": (8, 429),
    "ERROR_FREE_USER_USAGE_LIMIT": (9, 500),
    "ERROR_PRO_USER_USAGE_LIMIT": (10, 500),
    "ERROR_AUTH_TOKEN_NOT_FOUND": (11, 401),
    "ERROR_AUTH_TOKEN_EXPIRED": (12, 401),
    "ERROR_OPENAI": (13, 500),
    "ERROR_OPENAI_RATE_LIMIT_EXCEEDED": (14, 429),
    "ERROR_OPENAI_ACCOUNT_LIMIT_EXCEEDED": (15, 429),
    "ERROR_TASK_UUID_NOT_FOUND": (16, 404),
    "ERROR_TASK_NO_PERMISSIONS": (17, 403),
    "ERROR_AGENT_REQUIRES_LOGIN": (18, 403),
    "ERROR_AGENT_ENGINE_NOT_FOUND": (19, 404),
    "ERROR_MAX_TOKENS": (20, 500),
    "ERROR_USER_ABORTED_REQUEST": (21, 500),
    "ERROR_GENERIC_RATE_LIMIT_EXCEEDED": (22, 429),
    "ERROR_PRO_USER_ONLY": (23, 403),
    "ERROR_API_KEY_NOT_SUPPORTED": (24, 500),
    "ERROR_TIMEOUT": (25, 504),
    "ERROR_SLASH_EDIT_FILE_TOO_LONG": (26, 400),
    "ERROR_FILE_UNSUPPORTED": (27, 400),
    "ERROR_GPT_4_VISION_PREVIEW_RATE_LIMIT": (28, 429),
    "ERROR_CUSTOM_MESSAGE": (29, 500),
    "ERROR_OUTDATED_CLIENT": (30, 500),
    "ERROR_CLAUDE_IMAGE_TOO_LARGE": (31, 400),
    "ERROR_GITGRAPH_NOT_FOUND": (32, 404),
    "ERROR_FILE_NOT_FOUND": (33, 404),
    "ERROR_API_KEY_RATE_LIMIT": (34, 429),
    "ERROR_DEBOUNCED": (35, 500),
    "ERROR_BAD_REQUEST": (36, 400),
    "ERROR_REPOSITORY_SERVICE_REPOSITORY_IS_NOT_INITIALIZED": (37, 500),
    "ERROR_UNAUTHORIZED": (38, 401),
    "ERROR_NOT_FOUND": (39, 404),
    "ERROR_DEPRECATED": (40, 500),
    "ERROR_RESOURCE_EXHAUSTED": (41, 500),
    "ERROR_BAD_USER_API_KEY": (42, 400),
    "ERROR_CONVERSATION_TOO_LONG": (43, 400),
    "ERROR_USAGE_PRICING_REQUIRED": (44, 500),
    "ERROR_USAGE_PRICING_REQUIRED_CHANGEABLE": (45, 500),
    "ERROR_GITHUB_NO_USER_CREDENTIALS": (46, 500),
    "ERROR_GITHUB_USER_NO_ACCESS": (47, 500),
    "ERROR_GITHUB_APP_NO_ACCESS": (48, 500),
    "ERROR_GITHUB_MULTIPLE_OWNERS": (49, 500),
    "ERROR_RATE_LIMITED": (50, 429),
    "ERROR_RATE_LIMITED_CHANGEABLE": (51, 429),
    "ERROR_CUSTOM": (52, 500),
    "ERROR_HOOKS_BLOCKED": (53, 500),
    "ERROR_SUSPICIOUS_USAGE_BLOCKED": (54, 403),
    "ERROR_EXTENSION_HOST_TIMEOUT": (55, 504),
    "ERROR_NETWORK_ERROR": (56, 502),
    "ERROR_PROVIDER_ERROR": (57, 500),
    "ERROR_MODEL_BLOCKED": (58, 400),
    "ERROR_INTERNAL": (59, 500),
    "ERROR_MAX_MODE_REQUIRED": (60, 400),
    "ERROR_MODEL_NO_LONGER_SUPPORTED": (61, 400),
    "ERROR_PRICING_WARNING": (62, 500),
    "ERROR_SLOW_POOL": (63, 429),
    "ERROR_UNSUPPORTED_REGION": (64, 403),
    "ERROR_ACCOUNT_CLOSED": (65, 403),
}

ERROR_STATUS: dict[str, int] = {name: status for name, (_, status) in ERRORS.items()}
ERROR_NAMES: dict[int, str] = {number: name for name, (number, _) in ERRORS.items()}

# Names that mean this token will never work again: the pool drops it instead of
# cooling it down.
BAD_TOKEN = frozenset(
    {
        "ERROR_NOT_LOGGED_IN",
        "ERROR_AUTH_TOKEN_EXPIRED",
        "ERROR_AUTH_TOKEN_NOT_FOUND",
        "ERROR_BAD_API_KEY",
        "ERROR_INVALID_AUTH_ID",
        "ERROR_ACCOUNT_CLOSED",
    }
)
# Names that mean this account has no usage left (a free or pro limit, a used-up
# prepaid balance: docs/agent-protocol.md §13.3): the pool benches the
# token for longer than a rate limit and moves the request on.
USAGE_NAMES = frozenset(
    {
        "ERROR_FREE_USER_USAGE_LIMIT",
        "ERROR_PRO_USER_USAGE_LIMIT",
        "ERROR_USAGE_PRICING_REQUIRED",
        "ERROR_USAGE_PRICING_REQUIRED_CHANGEABLE",
    }
)
# Words of a failure between Cursor and the model's provider: worth one more try on
# another token, and never the token's fault.
PROVIDER_WORDS = ("unable to reach the model provider",)
# Refusals of the request itself that come with a 5xx status: retrying the same
# request cannot help (the HTTP face says so with `x-should-retry: false`).
REFUSED_NAMES = frozenset(
    {
        "ERROR_MAX_TOKENS",
        "ERROR_API_KEY_NOT_SUPPORTED",
        "ERROR_CUSTOM_MESSAGE",
        "ERROR_HOOKS_BLOCKED",
        "ERROR_PRICING_WARNING",
        "ERROR_GITHUB_NO_USER_CREDENTIALS",
        "ERROR_GITHUB_USER_NO_ACCESS",
        "ERROR_GITHUB_APP_NO_ACCESS",
        "ERROR_GITHUB_MULTIPLE_OWNERS",
        "ERROR_REPOSITORY_SERVICE_REPOSITORY_IS_NOT_INITIALIZED",
    }
)
VERSION_NAMES = frozenset({"ERROR_DEPRECATED", "ERROR_OUTDATED_CLIENT"})
# Cursor gates old clients under unrelated names (ERROR_GPT_4_VISION_PREVIEW_RATE_LIMIT
# with "Update Required"), so the words count as much as the name.
VERSION_WORDS = ("update required", "no longer supported", "update to the latest version")
# A retired *model* also says "no longer supported"; that is the caller's model
# choice, not our client version.
NOT_VERSION_NAMES = frozenset({"ERROR_MODEL_NO_LONGER_SUPPORTED", "ERROR_BAD_MODEL_NAME"})
