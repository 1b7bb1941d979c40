"""`python -m cursor_api` / `cursor-api`: load settings, serve, shut down gracefully."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web
from dotenv import load_dotenv

from . import __version__, keys, log_format
from .app import create_app
from .check import run_check
from .config import Config, ConfigError
from .drain import CUT_WAIT_S
from .listener import listen
from .routes.admin import share_file
from .token_files import TokenFileError

if TYPE_CHECKING:
    from .fake_h2 import FakeServer

log = logging.getLogger("cursor_api")

# Demo folders are named for the demo's process id, so a later demo can tell the
# leftovers of a killed one from those of one still running.
DEMO_PREFIX = "cursor-api-demo-"


def settings_help() -> str:
    """The settings, as `.env-example` documents them (the one place each is described)."""
    example = share_file(".env-example")
    intro = (
        "Settings come from the environment and from .env in the working directory (real\n"
        "environment variables win). The README's Configuration section describes each\n"
        "one"
    )
    try:
        text = example.read_text(encoding="utf-8")
    except OSError:
        return intro + "."
    lines = [intro + "; .env-example lists them with their defaults:", ""]
    comment: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("# "))
        elif "=" in line:
            name, _, default = line.partition("=")
            about = " ".join(comment) if comment else ""
            lines.append(f"  {name}={default}" + (f"\n      {about}" if about else ""))
            comment = []
        else:
            comment = []
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cursor-api",
        description="OpenAI-compatible chat completions over your Cursor accounts.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against a built-in fake Cursor upstream with a demo token (no account"
        " needed); listens on 127.0.0.1 unless HOST is set",
    )
    parser.add_argument("--version", action="version", version=f"cursor-api {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{check}")
    check = commands.add_parser(
        "check",
        help="check the settings and token files, and probe each token against Cursor",
        description="Validate the settings and both token files (nothing is written), then "
        "ask Cursor about each token's usage and account. Exits 0 when at least one token "
        "is usable, 1 when none is, 2 on bad settings or unreadable token files.",
    )
    check.add_argument(
        "--chat", action="store_true", help="also send each token one tiny chat turn"
    )
    check.add_argument(
        "--model", help="the model of the --chat turn (default: auto / cursor-small)"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load_dotenv(Path.cwd() / ".env", override=False)
    env = dict(os.environ)
    if args.demo:
        env.setdefault("AUTH_TOKEN", "demo-key")
        # The demo's key is public: reachable from this machine only, unless asked.
        env.setdefault("HOST", "127.0.0.1")
    try:
        config = Config.from_env(env)
    except ConfigError as exc:
        fail(str(exc))
    if args.command == "check":
        # Only problems on stderr: the report is the output.
        log_format.configure("WARNING", config.log_format)
        status = asyncio.run(
            run_check(config, sys.stdout, chat=args.chat, model=args.model, as_json=args.json)
        )
        raise SystemExit(status)
    log_format.configure(config.log_level, config.log_format)
    try:
        run(serve(config, demo=args.demo))
    except KeyboardInterrupt:
        pass
    except TokenFileError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {config.host}:{config.port} (HOST, PORT): {exc}")


def fail(message: str) -> NoReturn:
    """A setting the service cannot start with: one line naming it, exit status 2."""
    print(f"cursor-api: {message}", file=sys.stderr)
    raise SystemExit(2)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (the `fast` extra), else on asyncio's own loop.

    uvloop takes about a quarter off the CPU per streamed frame (README,
    Performance); CURSOR_API_LOOP=asyncio opts out.
    """
    if os.environ.get("CURSOR_API_LOOP", "").lower() != "asyncio":
        try:
            # By name: an optional extra, absent where it is not installed.
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            pass
        else:
            log.debug("event loop: uvloop")
            uvloop.run(main)
            return
    asyncio.run(main)


async def serve(config: Config, *, demo: bool = False) -> None:
    """Run until SIGTERM/SIGINT, then let in-flight streams finish within the grace period."""
    if not demo:
        await _serve(config)
        return
    with tempfile.TemporaryDirectory(prefix=f"{DEMO_PREFIX}{os.getpid()}-") as folder:
        config, demo_server = await start_demo(config, Path(folder))
        try:
            await _serve(config, demo=True)
        finally:
            await demo_server.close()


async def _serve(config: Config, *, demo: bool = False) -> None:
    app = create_app(config)
    # aiohttp's own wait is for what the drain does not track (short admin requests):
    # its timeout counts twice for a handler that does not end (drain.py).
    runner = web.AppRunner(
        app, handler_cancellation=True, shutdown_timeout=CUT_WAIT_S, access_log=None
    )
    await runner.setup()
    listener = await listen(runner, config.host, config.port, config.max_connections)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    address = _address(listener, config)
    say = _announcer(config)
    say(f"cursor-api {__version__}")
    say(f"listening on http://{address}")
    say(f"tokens loaded: {len(app[keys.tokens_key])}")
    say(f"upstream: {config.upstream_url} ({config.upstream_protocol})")
    if demo:
        payload = '{"model":"claude-3.5-sonnet","messages":[{"role":"user","content":"Hi"}]}'
        say(
            f"demo: try\n  curl -s http://{_client_address(address)}{config.route_prefix}"
            f"/v1/chat/completions -H 'Authorization: Bearer {config.auth_token}' "
            f"-H 'Content-Type: application/json' -d '{payload}'"
        )
    try:
        await stop.wait()
        log.info("shutting down: waiting up to %g s for open streams", config.shutdown_grace_s)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        listener.close()
        # The grace period is spent here, once; what is left is cut with a last event.
        cut = await app[keys.drain_key].run(config.shutdown_grace_s)
        if cut:
            log.warning(
                "shutdown: cut %d answer(s) still open after %g s", cut, config.shutdown_grace_s
            )
        await runner.cleanup()


async def start_demo(config: Config, folder: Path) -> tuple[Config, FakeServer]:
    """Start the fake upstream on a free loopback port and point the config at it.

    It answers the agent dialect's `Run` over h2c and everything else over HTTP/1.1 on
    the same port, so `AGENT_TRANSPORT` can be tried either way.
    """
    from .fake_h2 import FakeServer
    from .fake_upstream import FakeUpstream, make_token

    _remove_stale_demo_folders(folder.parent)
    server = FakeServer(FakeUpstream())
    url = await server.start()
    port = int(url.rsplit(":", 1)[1])
    (folder / ".token").write_text(f"demo::{make_token()}\n")
    config = config.replace(
        upstream_url=f"http://127.0.0.1:{port}",
        cursor_web_url=f"http://127.0.0.1:{port}",
        token_file=folder / ".token",
        token_list_file=folder / ".token-list",
        config_file=folder / ".config.json",
    )
    _announcer(config)(
        f"demo: fake Cursor upstream on http://127.0.0.1:{port}, token files in {folder}"
    )
    return config, server


def _remove_stale_demo_folders(parent: Path) -> None:
    """Folders of demos that were killed (their process is gone) hold a token file: remove."""
    for folder in parent.glob(f"{DEMO_PREFIX}*-*"):
        pid = folder.name[len(DEMO_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process
    return True


def _announcer(config: Config) -> Callable[[str], None]:
    """Start-up lines: printed as text, or log records when LOG_FORMAT=json (one format a stream).

    The announcing logger is INFO whatever LOG_LEVEL says, as the printed lines are.
    """
    if config.log_format != "json":
        return lambda line: print(line, flush=True)
    announce = logging.getLogger("cursor_api.start")
    announce.setLevel(logging.INFO)
    return announce.info


def _address(listener: asyncio.Server, config: Config) -> str:
    try:
        host, port = listener.sockets[0].getsockname()[:2]
    except (IndexError, ValueError):
        return f"{config.host}:{config.port}"
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _client_address(address: str) -> str:
    return address.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]")


if __name__ == "__main__":
    main()
