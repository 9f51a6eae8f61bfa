"""A TCP proxy that misbehaves on demand, between the edge agent and the broker: added latency,
a stalled link (nothing passes either way, as when packets are lost and TCP retransmits into a
void), and cut connections (both sides reset).

The fault suite uses it for the network faults. The kernel of the machines the suite runs on has
no ``netem`` queueing discipline, so loss and delay cannot be made with ``tc``; what the agent
and the broker see of a lossy, slow link — bytes arriving late, a connection that stops moving
and times out, a reset — is made here in user space instead, on real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = 0.0  # added to every chunk, each way
        self._flowing = asyncio.Event()  # cleared: the link is stalled
        self._flowing.set()
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0  # accepted since start

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def stall(self) -> None:
        """Nothing passes, either way, until :meth:`resume` (connections stay open)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """Reset every open connection (as a middlebox that lost its state would)."""
        for a, b in list(self._links):
            for w in (a, b):
                w.transport.abort()
        self._links.clear()

    async def stop(self) -> None:
        self.resume()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            self._links.discard(link)
            for w in link:
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                await self._flowing.wait()
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()
        writer.transport.abort()
