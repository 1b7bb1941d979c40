"""`CURSOR_CLIENT_VERSION=auto`: the Cursor CLI build current today, read from its installer.

Cursor's public install script downloads the CLI from `downloads.cursor.com/lab/<build>/`;
the agent dialect's client version is `cli-<build>` (docs/agent-protocol.md §13.1).
The script is read at start and once a day; when it cannot be read the service keeps
the version it has (the built-in default at start) and says so in one warning line.
"""

from __future__ import annotations

import asyncio
import logging
import re

from .client import UpstreamClient
from .errors import UpstreamError

log = logging.getLogger(__name__)

REFRESH_S = 24 * 3600.0
# The install script is small and served by a CDN: a read slower than this failed.
READ_TIMEOUT_S = 10.0
SCRIPT_LIMIT = 1024 * 1024

# A build is the release date and a commit prefix, sometimes with a channel suffix.
_BUILD = re.compile(
    r"downloads\.cursor\.com/lab/(\d{4}\.\d{2}\.\d{2}-[0-9a-f]{7,40}(?:-[0-9a-z]+)?)/"
)


def parse_install_script(text: str) -> str | None:
    """`cli-<build>` from the first line naming `downloads.cursor.com/lab/<build>/`."""
    match = _BUILD.search(text)
    return f"cli-{match.group(1)}" if match else None


class InstallScriptVersion:
    """Keeps `client.client_version` at the build Cursor's install script names."""

    def __init__(self, client: UpstreamClient, url: str) -> None:
        self.client = client
        self.url = url

    async def read(self) -> str:
        """The version the script names; UpstreamError when it cannot be had."""
        text = await self.client.get_text(self.url, SCRIPT_LIMIT, within=READ_TIMEOUT_S)
        version = parse_install_script(text)
        if version is None:
            raise UpstreamError(
                "invalid_argument",
                f"no line naming downloads.cursor.com/lab/<build>/ in {self.url}",
                status_override=502,
            )
        return version

    async def refresh(self) -> None:
        """Read once; on failure keep the current version and log one warning line."""
        try:
            version = await self.read()
        except UpstreamError as exc:
            log.warning(
                "CURSOR_CLIENT_VERSION=auto: could not read the current Cursor CLI build (%s); "
                "sending %s",
                exc.text,
                self.client.client_version,
            )
            return
        if version != self.client.client_version:
            log.info("CURSOR_CLIENT_VERSION=auto: sending %s (from %s)", version, self.url)
        self.client.client_version = version

    async def run(self, every: float = REFRESH_S) -> None:
        """Refresh every `every` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            await self.refresh()
