"""A lean Modbus TCP client: one asyncio connection, one transaction at a time, frames from
``protocols.modbus.tcp``.

pymodbus wraps every request in a transaction manager, a PDU object, a framer and an
``asyncio.wait_for``; at a few hundred requests a second that was a third of the agent's CPU.
Here a request is one ``bytes`` written, one future resolved by ``data_received`` and one timer;
the reply's data bytes go to the driver untouched, which unpacks whole blocks with ``struct``.

Errors as the driver's: no reply in time (or no connection) is :class:`MeterTimeout`; an
exception response or a reply that does not answer the request is :class:`MeterReplyError`.
A stream that is no longer Modbus TCP (a bad header) or a timeout with part of a frame
buffered drops the connection: the next request reconnects, so a stale or torn reply can
never be taken for the answer to a later request. Replies to earlier, timed-out transactions
are recognised by their transaction id and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from edge_agent.drivers.base import MeterReplyError, MeterTimeout
from protocols.modbus import ReadRequest
from protocols.modbus.tcp import (
    ExceptionReply,
    Frame,
    FrameError,
    MbapDecoder,
    ReplyError,
    encode_read,
    read_reply_data,
    write_reply_ok,
)

log = logging.getLogger("edge_agent.modbus_tcp")


class _Connection(asyncio.Protocol):
    """One TCP connection of a link; events of a connection the link has dropped are ignored
    (its ``connection_lost`` may arrive after the link has already reconnected)."""

    def __init__(self, link: TcpLink) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.decoder = MbapDecoder()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link._connection is self:
            self.link._connection = None
            self.link._fail(MeterTimeout(f"connection to {self.link.where} lost"))

    def data_received(self, data: bytes) -> None:
        if self.link._connection is not self:
            return
        self.decoder.feed(data)
        try:
            frames = self.decoder.frames()
        except FrameError as exc:
            self.link._fail(MeterReplyError(f"malformed reply: {exc}"))
            self.link._drop()
            return
        for frame in frames:
            self.link._received(frame)


class TcpLink:
    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.where = f"{host}:{port}"
        self._connection: _Connection | None = None
        self._transaction = 0
        self._waiting: dict[int, asyncio.Future[Frame]] = {}  # transaction id -> its reply
        self.stale_replies = 0  # replies to transactions that had already timed out

    def _received(self, frame: Frame) -> None:
        future = self._waiting.pop(frame.transaction, None)
        if future is None:
            self.stale_replies += 1
        elif not future.done():
            future.set_result(frame)

    # --- requests ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def _connect(self) -> asyncio.Transport:
        connection = self._connection
        if connection is not None and connection.transport is not None:
            return connection.transport
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                transport, connection = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            raise MeterTimeout(f"cannot connect to {self.where}: {exc}") from None
        self._connection = connection
        return transport

    def next_transaction(self) -> int:
        self._transaction = (self._transaction + 1) & 0xFFFF
        return self._transaction

    async def transact(self, transaction: int, frame: bytes, unit: int) -> Frame:
        """Send one request; the reply frame with the same transaction id."""
        transport = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Frame] = loop.create_future()
        self._waiting[transaction] = future
        timer = loop.call_later(self.timeout_s, self._expire)
        transport.write(frame)
        try:
            reply = await future
        finally:
            timer.cancel()
            self._waiting.pop(transaction, None)
        return reply

    def _expire(self) -> None:
        self._fail(MeterTimeout(f"no reply within {self.timeout_s:g} s"))
        connection = self._connection
        if connection is not None and connection.decoder.buffered:
            self._drop()  # part of a frame: the stream can no longer be trusted

    def _fail(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            connection.transport.abort()

    async def read(self, request: ReadRequest) -> bytes:
        """The data bytes of one read (2 per register, big-endian; bits packed LSB first)."""
        transaction = self.next_transaction()
        frame = encode_read(
            transaction, request.unit, request.function, request.start, request.count
        )
        return self._data(request, await self.transact(transaction, frame, request.unit))

    async def read_many(self, requests: list[ReadRequest]) -> list[bytes | MeterReplyError]:
        """Pipelined: every request written at once (one send), each its own transaction; per
        request its data bytes or the refusal. Raises MeterTimeout if any reply is missing
        after the timeout (the others are then not waited for)."""
        transport = await self._connect()
        loop = asyncio.get_running_loop()
        frames, transactions, futures = [], [], []
        for rq in requests:
            transaction = self.next_transaction()
            frames.append(encode_read(transaction, rq.unit, rq.function, rq.start, rq.count))
            future: asyncio.Future[Frame] = loop.create_future()
            self._waiting[transaction] = future
            transactions.append(transaction)
            futures.append(future)
        timer = loop.call_later(self.timeout_s, self._expire)
        transport.write(b"".join(frames))
        try:
            replies = [await future for future in futures]
        except MeterReplyError as exc:  # a broken stream: nothing of this round is usable
            return [exc] * len(requests)
        finally:
            timer.cancel()
            for transaction in transactions:
                self._waiting.pop(transaction, None)
        results: list[bytes | MeterReplyError] = []
        for rq, reply in zip(requests, replies, strict=True):
            try:
                results.append(self._data(rq, reply))
            except MeterReplyError as exc:
                results.append(exc)
        return results

    def _data(self, request: ReadRequest, reply: Frame) -> bytes:
        if reply.unit != request.unit:
            raise MeterReplyError(f"reply from unit {reply.unit} to unit {request.unit}'s request")
        try:
            return read_reply_data(request.function, request.count, reply.pdu)
        except ExceptionReply as exc:
            raise MeterReplyError(
                f"unit {request.unit} refused {request.function.value} "
                f"{request.start}+{request.count}: {exc}"
            ) from None
        except ReplyError as exc:
            raise MeterReplyError(f"unit {request.unit}: {exc}") from None

    async def write(self, frame: bytes, transaction: int, unit: int) -> None:
        """Send a write request made by ``protocols.modbus.tcp``; check its echo."""
        reply = await self.transact(transaction, frame, unit)
        if reply.unit != unit:
            raise MeterReplyError(f"reply from unit {reply.unit} to unit {unit}'s write")
        try:
            write_reply_ok(frame, reply.pdu)
        except (ExceptionReply, ReplyError) as exc:
            raise MeterReplyError(f"unit {unit} refused the write: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._drop()
