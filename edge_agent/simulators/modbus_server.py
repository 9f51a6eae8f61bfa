"""Simulated Modbus meters by unit id: Modbus TCP, or RTU over a pty / serial line.

The server loop is meterline's own (see :mod:`.bus`) so that byte timing and faults behave the
same as on the DL/T 645 bus; the frames and PDUs are pymodbus's (its RTU and socket framers
and its request / response classes), so what is on the wire is what pymodbus clients expect.
Reads answer from the meter's register image; writes to the map's relay registers operate the
meter's relay; other writes are refused with exception 02 (illegal data address).
"""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsResponse,
    ReadDiscreteInputsResponse,
    WriteMultipleCoilsResponse,
    WriteSingleCoilResponse,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterResponse,
)

from edge_agent.simulators.bus import BusServer, Reply, Request, Session, SimMeter
from edge_agent.simulators.clock import Clock
from edge_agent.simulators.faults import FaultKind
from edge_agent.simulators.modbus_image import ModbusImage
from edge_agent.simulators.wire import Line, Timing
from protocols.contract.messages import CommandKind
from protocols.modbus import Function, RegisterMap

RTU_GAP_CHARS = 3.5  # Modbus over serial line, 2.5.1.1: frames are separated by ≥ 3.5 chars

_READS = {
    1: (Function.COIL, ReadCoilsResponse),
    2: (Function.DISCRETE_INPUT, ReadDiscreteInputsResponse),
    3: (Function.HOLDING, ReadHoldingRegistersResponse),
    4: (Function.INPUT, ReadInputRegistersResponse),
}


def modbus_timing(baud: int | None) -> Timing:
    """Wire timing of a Modbus RTU line at ``baud`` (8E1, 11-bit characters)."""
    if baud is None:
        return Timing()
    return Timing(Line(baud), gap_chars=RTU_GAP_CHARS)


def rtu_deframe(decoder: DecodePDU, buffer: bytes) -> tuple[int, int, bytes]:
    """Find the first RTU frame with a good CRC: (bytes consumed, unit, PDU bytes).

    pymodbus's own RTU framer consumes the whole buffer with the first frame (it assumes one
    request at a time); a bus can deliver two back to back, so this consumes exactly one and
    hunts byte by byte past noise and bad CRCs. (0, 0, b"") means: need more bytes.
    """
    for offset in range(len(buffer) - FramerRTU.MIN_SIZE + 1):
        candidate = buffer[offset:]
        pdu_class = decoder.lookupPduClass(candidate)
        if pdu_class is None:
            continue
        size = pdu_class.calculateRtuFrameSize(candidate)
        if not size or len(candidate) < size:
            return 0, 0, b""
        crc = int.from_bytes(candidate[size - 2 : size], "big")
        if FramerRTU.check_CRC(candidate[: size - 2], crc):
            return offset + size, candidate[0], candidate[1 : size - 2]
    return 0, 0, b""


class _ModbusSession(Session):
    def __init__(self, server: ModbusServer, rtu: bool) -> None:
        self.server = server
        self.rtu = rtu
        self.decoder = DecodePDU(is_server=True)
        self.socket_framer = FramerSocket(self.decoder)
        self.buffer = bytearray()

    def _next(self) -> tuple[int, int, int, bytes]:
        if self.rtu:
            used, unit, pdu = rtu_deframe(self.decoder, bytes(self.buffer))
            return used, unit, 0, pdu
        return self.socket_framer.decode(bytes(self.buffer))

    def feed(self, data: bytes) -> list[Request]:
        self.buffer += data
        requests = []
        while self.buffer:
            used, dev_id, tid, pdu_bytes = self._next()
            if not used:
                break
            del self.buffer[:used]
            if not pdu_bytes:
                self.server.stats["frame_errors"] += 1
                continue
            pdu = self.decoder.decode(pdu_bytes)
            if pdu is None:  # a known function with bad fields (count 0 or > 125), or unknown
                known = self.decoder.lookupPduClass(bytes((dev_id,)) + pdu_bytes) is not None
                code = ExcCodes.ILLEGAL_VALUE if known else ExcCodes.ILLEGAL_FUNCTION
                self.server.stats["bad_requests"] += 1
                pdu = ExceptionResponse(pdu_bytes[0] & 0x7F, code)
            pdu.dev_id = dev_id
            pdu.transaction_id = tid
            requests.append(Request(pdu, used))
        return requests

    def buffered(self) -> int:
        return len(self.buffer)

    def drop_partial(self) -> None:
        if self.buffer:
            self.server.stats["frame_errors"] += 1
        self.buffer.clear()


class ModbusServer(BusServer):
    """Modbus meters on one endpoint, all laid out per one register map. RTU framing on a
    pty / serial line (and over TCP with ``rtu_over_tcp``, as behind a transparent gateway),
    Modbus TCP (MBAP) framing otherwise."""

    protocol = "modbus"

    def __init__(
        self,
        meters: Sequence[SimMeter],
        clock: Clock,
        register_map: RegisterMap,
        timing: Timing | None = None,
        *,
        seed: int = 0,
        rtu_over_tcp: bool = False,
    ) -> None:
        super().__init__(meters, clock, timing or Timing(), seed)
        self.register_map = register_map
        self.rtu_over_tcp = rtu_over_tcp
        self.images = {m.meter_id: ModbusImage(register_map, m.model) for m in meters}

    @property
    def rtu(self) -> bool:
        return self.transport != "tcp" or self.rtu_over_tcp

    def session(self) -> Session:
        return _ModbusSession(self, self.rtu)

    def corrupt(self, data: bytes) -> bytes:
        if self.rtu:
            return data[:-1] + bytes((data[-1] ^ 0xFF,))
        # Modbus TCP has no checksum: announce one byte more than follows, so the frame is
        # never complete (what a corrupted length does to a TCP client).
        length = int.from_bytes(data[4:6], "big") + 1
        return data[:4] + length.to_bytes(2, "big") + data[6:]

    def _frame(self, pdu: ModbusPDU) -> bytes:
        framer = FramerRTU if self.rtu else FramerSocket
        return framer(DecodePDU(is_server=True)).buildFrame(pdu)

    def respond(self, request: object, now_ms: int) -> list[Reply]:
        assert isinstance(request, ModbusPDU)
        unit = request.dev_id
        if unit == 0:  # broadcast: every meter acts, none answers
            for meter in self.meters.values():
                if meter.strike() is None:
                    self._execute(meter, request, now_ms)
            self.stats["broadcasts"] += 1
            return []
        target = self.meters.get(str(unit))
        if target is None:
            self.stats["ignored"] += 1
            if self.rtu:
                return []  # nobody on the line has that address
            response: ModbusPDU = ExceptionResponse(
                request.function_code, ExcCodes.GATEWAY_NO_RESPONSE
            )
            response.dev_id, response.transaction_id = unit, request.transaction_id
            return [Reply(None, self._frame(response))]
        fault = target.strike()
        if fault is not None and fault.kind is FaultKind.SILENT:
            return []
        response = self._execute(target, request, now_ms)
        response.dev_id, response.transaction_id = unit, request.transaction_id
        return [Reply(target, self._frame(response), fault)]

    def _execute(self, meter: SimMeter, request: ModbusPDU, now_ms: int) -> ModbusPDU:
        code = request.function_code
        if isinstance(request, ExceptionResponse):
            return request
        if code in _READS:
            return self._read(meter, request, now_ms)
        if code in (5, 6, 15, 16):
            return self._write(meter, request, now_ms)
        return ExceptionResponse(code, ExcCodes.ILLEGAL_FUNCTION)

    def _read(self, meter: SimMeter, request: ModbusPDU, now_ms: int) -> ModbusPDU:
        function, response_class = _READS[request.function_code]
        image = self.images[meter.meter_id]
        span = image.span(function)
        first, last = request.address, request.address + request.count - 1
        if span is None or first < span[0] or last > span[1]:
            return ExceptionResponse(request.function_code, ExcCodes.ILLEGAL_ADDRESS)
        cells = image.table(now_ms).get(function, {})
        words = [cells.get(a, 0) for a in range(first, last + 1)]  # gaps read as 0
        if function.is_bits:
            return response_class(bits=[bool(w) for w in words], address=first, count=len(words))
        return response_class(registers=words)

    def _write(self, meter: SimMeter, request: ModbusPDU, now_ms: int) -> ModbusPDU:
        code = request.function_code
        if code in (5, 15):
            function, values = Function.COIL, [int(bool(b)) for b in request.bits]
        else:
            function, values = Function.HOLDING, list(request.registers)
        relay = self.register_map.relay
        kind = relay.identify_write(function, request.address, values) if relay else None
        if kind is None:
            writable = relay is not None and any(
                w is not None and w.function is function and w.address == request.address
                for w in (relay.disconnect, relay.reconnect, relay.arm)
            )
            code_ = ExcCodes.ILLEGAL_VALUE if writable else ExcCodes.ILLEGAL_ADDRESS
            return ExceptionResponse(code, code_)
        model = meter.model
        if kind is CommandKind.DISCONNECT:
            model.remote_disconnect(now_ms)
        else:
            model.remote_reconnect(now_ms, arm=kind is CommandKind.ARM_RECONNECT)
        self.stats[f"relay_{kind.value}"] += 1
        if code == 5:
            return WriteSingleCoilResponse(address=request.address, bits=request.bits)
        if code == 6:
            return WriteSingleRegisterResponse(address=request.address, registers=request.registers)
        response = WriteMultipleCoilsResponse if code == 15 else WriteMultipleRegistersResponse
        return response(address=request.address, count=len(values))
