"""`cursor-api check`: validate a deployment's settings and token files, then probe each token.

Nothing is written: the token files are read and merged the way the service would
(README, Tokens), and each token is asked about its usage and account, and with
`--chat` for one tiny chat turn, through the same upstream client the service uses.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import aiohttp

from .account import PREMIUM_KEY, AccountFetcher
from .api_keys import KeyExchange
from .config import AUTO_CLIENT_VERSION, Config
from .pool import mask
from .token_shape import check_shape
from .tokens import TokenEntry, merge, parse_token_file, parse_token_list
from .upstream import checksum
from .upstream.client import UpstreamClient
from .upstream.client_version import InstallScriptVersion
from .upstream.dialects import make_dialect
from .upstream.dialects.base import Dialect
from .upstream.errors import UpstreamError
from .upstream.types import ChatTurn, Message, Text

# Probes running at once: enough for a pool of dozens, gentle on Cursor.
CONCURRENCY = 4
# A probe turn's whole answer must come within this (the first byte: UPSTREAM_TIMEOUT_S).
CHAT_LIMIT_S = 60.0
PROBE_TEXT = "Reply with the single word OK."
COLUMNS = ("alias", "state", "membership", "requests left", "error")


@dataclass(slots=True)
class Row:
    """One token's line of the report."""

    alias: str
    state: str  # ok, expired, invalid, rejected, rate-limited, error
    membership: str = "-"
    requests_left: str = "-"
    error: str = ""


@dataclass(slots=True)
class Files:
    """What reading the token files found."""

    entries: list[TokenEntry]
    notes: list[str]
    fatal: bool = False


def default_probe_model(config: Config) -> str:
    """A cheap model each dialect serves: the agent router, or Cursor's own small model."""
    return "auto" if config.upstream_protocol == "agent" else "cursor-small"


def read_files(config: Config, now_s: float) -> Files:
    """Read and merge both token files like the service, without writing either."""
    notes: list[str] = []
    texts: list[str] = []
    fatal = False
    for name, path in ((".token", config.token_file), (".token-list", config.token_list_file)):
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            texts.append("")
            notes.append(f"{name} ({path}) does not exist: the service creates it empty")
        except (OSError, UnicodeDecodeError) as exc:
            texts.append("")
            fatal = True
            notes.append(f"{name} ({path}) cannot be read: {exc}")
        folder = path.resolve().parent
        if folder.is_dir() and not os.access(folder, os.W_OK):
            notes.append(
                f"{name}: the service cannot write in {folder} (it rewrites its token files "
                "atomically there)"
            )

    def new_checksum() -> str:
        return checksum.generate(int(now_s * 1000))

    pairs, warnings = parse_token_file(texts[0], now_s)
    listed, list_warnings = parse_token_list(texts[1], new_checksum)
    notes.extend(warnings + list_warnings)
    entries = merge(pairs, listed, new_checksum)
    notes.insert(0, f"token files: {len(pairs)} usable in .token, {len(listed)} in .token-list")
    return Files(entries, notes, fatal)


def classify(exc: UpstreamError) -> str:
    """The report's state for an upstream refusal (the pool's kinds, in an operator's words)."""
    kind = exc.kind
    if kind == "bad_token":
        return "expired"
    if kind == "auth":
        return "rejected"
    if kind == "rate_limit":
        return "rate-limited"
    return "error"


def requests_left(usage: dict[str, Any] | None) -> str:
    """Premium requests left this month, `unlimited`, or `-` when unknown."""
    premium = (usage or {}).get(PREMIUM_KEY)
    if not isinstance(premium, dict):
        return "-"
    used, most = premium.get("numRequests"), premium.get("maxRequestUsage")
    if most is None:
        return "unlimited"
    if isinstance(used, int) and isinstance(most, int):
        return str(max(0, most - used))
    return "-"


def probe_turn(model: str) -> ChatTurn:
    return ChatTurn(
        model=model,
        instructions="",
        messages=(Message("user", PROBE_TEXT, str(uuid.uuid4())),),
        request_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
    )


async def chat_once(dialect: Dialect, entry: TokenEntry, model: str) -> str:
    """One tiny turn read to its end; its text (UpstreamError on a refusal)."""
    text: list[str] = []
    async with asyncio.timeout(CHAT_LIMIT_S):
        async with dialect.open(probe_turn(model), entry) as events:
            async for batch in events:
                text.extend(e.text for e in batch if type(e) is Text)
    return "".join(text)


async def probe(
    entry: TokenEntry,
    fetcher: AccountFetcher,
    dialect: Dialect,
    chat_model: str | None,
    exchange: KeyExchange | None = None,
) -> Row:
    """Usage, account and (with a model) a chat turn for one token."""
    row = Row(entry.alias or mask(entry.token), "ok")
    shape = check_shape(entry.token, time.time())
    if not shape.ok:
        error = shape.error or "not a usable token"
        row.state = "expired" if error.startswith("expired") else "invalid"
        row.error = error
        return row
    try:
        if exchange is not None:
            # A dashboard API key is probed with its access token, as the service uses it.
            entry = await exchange.credential(entry)
        usage = await fetcher.usage(entry.token)
        row.requests_left = requests_left(usage)
        await fetcher.user(entry.token)
        stripe = await fetcher.stripe(entry.token)
        membership = (stripe or {}).get("membershipType")
        row.membership = membership if isinstance(membership, str) else "-"
        if chat_model is not None and not await chat_once(dialect, entry, chat_model):
            row.state, row.error = "error", f"the {chat_model} probe turn produced no text"
    except UpstreamError as exc:
        row.state, row.error = classify(exc), exc.text
    except TimeoutError:
        row.state, row.error = "error", f"the probe turn took longer than {CHAT_LIMIT_S:g} s"
    return row


async def probe_all(
    config: Config, entries: Sequence[TokenEntry], chat_model: str | None
) -> list[Row]:
    """Probe every token, a few at a time, with the service's own upstream client."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=config.upstream_timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = UpstreamClient(session, config)
        if config.client_version == AUTO_CLIENT_VERSION:
            await InstallScriptVersion(client, config.cursor_install_url).refresh()
        fetcher = AccountFetcher(client, strict=True)
        dialect = make_dialect(client, config)
        gate = asyncio.Semaphore(CONCURRENCY)
        exchange = KeyExchange(client)

        async def one(entry: TokenEntry) -> Row:
            async with gate:
                return await probe(entry, fetcher, dialect, chat_model, exchange)

        try:
            return list(await asyncio.gather(*(one(e) for e in entries)))
        finally:
            await exchange.close()


def table(rows: Sequence[Row]) -> str:
    """The rows as aligned text columns."""
    lines = [COLUMNS] + [(r.alias, r.state, r.membership, r.requests_left, r.error) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


async def run_check(
    config: Config,
    out: TextIO,
    *,
    chat: bool = False,
    model: str | None = None,
    as_json: bool = False,
) -> int:
    """Print the report; 0 when at least one token is usable, 1 when none is, 2 on bad files."""
    files = read_files(config, time.time())
    chat_model = (model or default_probe_model(config)) if chat else None
    rows = await probe_all(config, files.entries, chat_model) if not files.fatal else []
    usable = sum(row.state == "ok" for row in rows)
    status = 2 if files.fatal else 0 if usable else 1
    if as_json:
        report = {
            "upstream": config.upstream_url,
            "dialect": config.upstream_protocol,
            "chat_model": chat_model,
            "notes": files.notes,
            "tokens": [asdict(row) for row in rows],
            "usable": usable,
        }
        print(json.dumps(report, ensure_ascii=False, indent=2), file=out)
        return status
    print(
        f"settings: ok (upstream {config.upstream_url}, {config.upstream_protocol} dialect, "
        f"client version {config.client_version})",
        file=out,
    )
    for note in files.notes:
        print(f"  {note}", file=out)
    if files.fatal:
        print("the token files cannot be read: fix the lines above", file=out)
        return status
    what = "usage, account" + (f", a chat turn with {chat_model}" if chat_model else "")
    print(f"probed {len(rows)} tokens ({what}):\n", file=out)
    if rows:
        print(table(rows) + "\n", file=out)
    print(f"{usable} of {len(rows)} tokens usable", file=out)
    if not usable:
        print(
            "no token is usable: add a working Cursor token to the token file "
            f"({config.token_file})",
            file=out,
        )
    return status
