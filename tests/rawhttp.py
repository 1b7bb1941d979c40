"""A few bytes-level HTTP/1.1 helpers: requests no client library would send as written."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from multidict import CIMultiDict


@dataclass
class RawResponse:
    """A parsed response: status, headers and the body read so far."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """One response from `reader`: the head, then Content-Length bytes (or to EOF)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers.add(name.strip(), value.strip())
    if "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    elif headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
    else:
        body = await reader.read()
    return RawResponse(status, headers, body)


async def request(
    port: int,
    head: str,
    body: bytes = b"",
    *,
    limit_s: float = 5.0,
    host: str = "127.0.0.1",
) -> RawResponse:
    """Send `head` (request line and headers, without the blank line) and `body` verbatim."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head.encode("latin-1") + b"\r\n\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(limit_s):
            return await read_response(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
