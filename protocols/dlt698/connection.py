"""The client side of a DL/T 698.45 exchange, h11 style: requests paired with answers, no I/O.

::

    conn = Connection(single("000039200933"))
    wire = conn.send(commands.get(0x00100200))       # bytes to write to the line
    ...
    conn.receive_data(chunk)                         # whatever the line delivered
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:           # the line's or the meter's fault: count it
            continue
        if event is NEED_DATA:
            break
        event.request, event.response                # an Answer

The connection numbers each request with a PIID (0–63, never one still outstanding) and pairs
every answer with the request that has the same PIID and expects that service, from the meter
asked. So a late answer to a request the caller gave up on (:meth:`Connection.forget`) is an
:class:`UnexpectedReply`, never mistaken for the answer to the next one; frames in the request
direction (an RS-485 adapter echoing ours) are skipped. ``next_event()`` returns an
:class:`Answer` or :data:`NEED_DATA`, or raises a :class:`RemoteProtocolError` — nothing else,
whatever bytes arrive (hypothesis checks it).

Requests that need security (relay control) go out wrapped in SECURITY-Request with the SID_MAC
the connection's :data:`MacFunction` computes; the answer's envelope is opened, its MAC given
to ``verify`` if one was set, and a refusal of the security layer (90 02 DAR) is an Answer with
``dar`` set and no response.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from protocols.dlt698.apdu import (
    ANSWERS,
    ActionNormal,
    ActionResponseNormal,
    ErrorResponse,
    GetNormal,
    GetNormalList,
    GetRecord,
    GetResponseNormal,
    GetResponseNormalList,
    GetResponseRecord,
    Request,
    Response,
    SetNormal,
    SetResponseNormal,
    decode_apdu,
    encode_apdu,
    sequence,
)
from protocols.dlt698.decoder import NEED_DATA, FrameDecoder, NeedData
from protocols.dlt698.errors import LocalProtocolError, UnexpectedReply
from protocols.dlt698.frame import (
    CLIENT_REQUEST,
    MAX_LENGTH,
    AddressType,
    Frame,
    ServerAddress,
    encode_frame,
)
from protocols.dlt698.security import (
    MacFunction,
    SecurityResponse,
    encode_security,
    protect,
)

_SERVICE = {
    GetResponseNormal: (0x85, 1),
    GetResponseNormalList: (0x85, 2),
    GetResponseRecord: (0x85, 3),
    SetResponseNormal: (0x86, 1),
    ActionResponseNormal: (0x87, 1),
}


class Answer(msgspec.Struct, frozen=True, gc=False):
    """A request and what the meter said to it. ``response`` is None only when the security
    layer refused (``dar``); an ErrorResponse means the meter could not parse or serve it."""

    request: Request
    response: Response | None
    frame: Frame
    dar: int = 0
    secured: bool = False
    mac: bytes | None = None


class _Pending(msgspec.Struct, gc=False):
    request: Request
    secured: bool


class Connection:
    """Requests to one server address and their answers."""

    def __init__(
        self,
        server: ServerAddress,
        client: int = 0,
        *,
        mac: MacFunction | None = None,
        verify: Callable[[bytes, bytes], bool] | None = None,
        preamble: int = 4,
        max_length: int = MAX_LENGTH,
    ) -> None:
        if server.kind is AddressType.BROADCAST:
            raise LocalProtocolError("nothing answers a broadcast; use encode_frame directly")
        self.server = server
        self.client = client
        self.mac = mac
        self.verify = verify
        self.preamble = preamble
        self.max_length = max_length
        self.decoder = FrameDecoder(max_length)
        self._pending: dict[int, _Pending] = {}
        self._next = 0
        self.echoes = 0  # our own requests seen on the line (RS-485 echo), skipped

    @property
    def pending(self) -> list[Request]:
        return [p.request for p in self._pending.values()]

    def send(self, request: Request, *, secure: bool = False) -> bytes:
        """Number ``request`` with a free PIID, remember it, and return the frame's bytes."""
        if len(self._pending) >= 64:
            raise LocalProtocolError("64 requests outstanding: forget some first")
        while self._next in self._pending:
            self._next = (self._next + 1) % 64
        seq = self._next
        self._next = (seq + 1) % 64
        numbered = msgspec.structs.replace(request, piid=(request.piid & 0x80) | seq)
        apdu = encode_apdu(numbered)
        if secure:
            if self.mac is None:
                raise LocalProtocolError("a secured request needs the connection's MAC function")
            apdu = encode_security(protect(apdu, self.mac))
        frame = Frame(self.server, apdu, CLIENT_REQUEST, self.client)
        wire = encode_frame(frame, self.preamble, self.max_length)
        self._pending[seq] = _Pending(numbered, secure)
        return wire

    def forget(self, request: Request | None = None) -> None:
        """Stop waiting for ``request`` (all requests if None): its late answer will be an
        UnexpectedReply. The caller does this when its timeout passes."""
        if request is None:
            self._pending.clear()
        else:
            self._pending.pop(sequence(request.piid), None)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self.decoder.feed(data)

    def next_event(self) -> Answer | NeedData:
        while True:
            frame = self.decoder.next_event()
            if frame is NEED_DATA:
                return NEED_DATA
            assert isinstance(frame, Frame)
            if not frame.from_server:
                self.echoes += 1
                continue
            return self._answer(frame)

    # --- pairing -------------------------------------------------------------------------------

    def _answer(self, frame: Frame) -> Answer:
        ours = self.server
        if ours.kind is AddressType.SINGLE and frame.server.address != ours.address:
            raise UnexpectedReply(f"answer from {frame.server.address}, asked {ours.address}")
        if frame.fragmented:
            raise UnexpectedReply("fragmented answers (分帧) are not supported")
        apdu = decode_apdu(frame.apdu)
        secured, mac = False, None
        if isinstance(apdu, SecurityResponse):
            secured, mac = True, apdu.mac
            if apdu.apdu is None:
                return self._refused(frame, apdu.dar)
            if apdu.ciphered:
                raise UnexpectedReply("a ciphered answer cannot be read without the ESAM")
            if self.verify is not None and (mac is None or not self.verify(apdu.apdu, mac)):
                raise UnexpectedReply("the answer's MAC does not verify")
            apdu = decode_apdu(apdu.apdu)
        if not isinstance(
            apdu,
            GetResponseNormal | GetResponseNormalList | GetResponseRecord | SetResponseNormal
            | ActionResponseNormal | ErrorResponse,
        ):  # fmt: skip
            raise UnexpectedReply(f"{type(apdu).__name__} is not an answer")
        seq = sequence(apdu.piid)
        pending = self._pending.get(seq)
        if pending is None:
            raise UnexpectedReply(f"no request with PIID {seq} is outstanding (a late answer?)")
        if pending.secured and not secured:
            raise UnexpectedReply(f"PIID {seq}: a secured request answered in the clear")
        if not isinstance(apdu, ErrorResponse):
            _check_pair(pending.request, apdu)
        del self._pending[seq]
        return Answer(pending.request, apdu, frame, 0, secured, mac)

    def _refused(self, frame: Frame, dar: int) -> Answer:
        secured = [s for s, p in self._pending.items() if p.secured]
        if len(secured) != 1:
            raise UnexpectedReply(f"a security refusal (DAR {dar}) with {len(secured)} candidates")
        pending = self._pending.pop(secured[0])
        return Answer(pending.request, None, frame, dar, True, None)


def _check_pair(request: Request, response: Response) -> None:
    """Raise UnexpectedReply unless ``response`` answers ``request`` (service and echo)."""
    if _SERVICE.get(type(response)) != ANSWERS[type(request)]:
        raise UnexpectedReply(f"{type(response).__name__} does not answer {type(request).__name__}")
    match request, response:
        case GetNormal(oad=asked), GetResponseNormal(result=result) if result.oad != asked:
            raise UnexpectedReply(f"answer for {result.oad:08X}, asked {asked:08X}")
        case GetNormalList(oads=asked), GetResponseNormalList(results=results) if (
            tuple(r.oad for r in results) != asked
        ):
            raise UnexpectedReply("the list answer does not echo the OADs asked")
        case GetRecord(oad=asked), GetResponseRecord(result=record) if record.oad != asked:
            raise UnexpectedReply(f"records of {record.oad:08X}, asked {asked:08X}")
        case SetNormal(oad=asked), SetResponseNormal(oad=got) if got != asked:
            raise UnexpectedReply(f"SET answer for {got:08X}, asked {asked:08X}")
        case ActionNormal(omd=asked), ActionResponseNormal(omd=got) if got != asked:
            raise UnexpectedReply(f"ACTION answer for {got:08X}, asked {asked:08X}")
