"""Every DI in the codec's table has an answer from the meter model, and it decodes back."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge_agent.simulators.dlt645_values import fit, item_values
from edge_agent.simulators.loadshape import Profile
from edge_agent.simulators.meter import DAY_MS, MeterConfig, MeterModel
from protocols.contract.quantities import Quantity as Q
from protocols.dlt645 import TABLE, MeterTime, decode_item, encode_item
from protocols.dlt645.items import PowerFailure, RelayEvent, StatusWord

MONDAY = int((datetime(2025, 3, 2, 16, 0) - datetime(1970, 1, 1)).total_seconds() * 1000)


@pytest.fixture(scope="module")
def meter() -> MeterModel:
    config = MeterConfig.generate("111111111111", 3, Profile.COMMERCIAL, clock_error=False)
    model = MeterModel(config, MONDAY)
    model.remote_disconnect(MONDAY + DAY_MS + 3_600_000, "00A1B2C3")
    model.power_fail(MONDAY + DAY_MS + 7_200_000)
    model.power_restore(MONDAY + DAY_MS + 7_260_000)
    model.advance(MONDAY + 2 * DAY_MS + 60_000)
    return model


def test_every_di_in_the_table_encodes_and_decodes(meter: MeterModel) -> None:
    now = meter.now_ms
    for di in TABLE:
        values = item_values(meter, di, now)
        assert values is not None, f"{di:08X}"
        item = decode_item(di, encode_item(di, values))
        assert item.values == values, f"{di:08X}"


def test_energy_is_truncated_to_the_display_and_the_rest_rounded(meter: MeterModel) -> None:
    energy = TABLE[0x00010000].fields[0]
    voltage = TABLE[0x02010100].fields[0]
    assert fit(energy, 12_345_678) == 12_345_670
    assert fit(voltage, 220_460) == 220_500  # XXX.X V: 100 mV steps
    assert fit(voltage, 2_000_000) == 999_900  # clamped to what the digits hold
    readings = meter.readings(meter.now_ms)
    answer = decode_item(
        0x0001FF00, encode_item(0x0001FF00, item_values(meter, 0x0001FF00, meter.now_ms))
    )  # type: ignore[arg-type]
    assert answer.readings[0].value == readings[Q.ENERGY_IMPORT] // 10 * 10


def test_events_and_freezes_read_as_the_meter_recorded_them(meter: MeterModel) -> None:
    now = meter.now_ms

    def record(di: int) -> object:
        return decode_item(di, encode_item(di, item_values(meter, di, now))).record  # type: ignore[arg-type]

    trip = record(0x1D000101)
    assert isinstance(trip, RelayEvent)
    assert (trip.at, trip.operator) == (MeterTime(2025, 3, 4, 1, 0, 0), "00A1B2C3")
    assert record(0x1D000102) == RelayEvent(MeterTime(0, 0, 0), "00000000", 0, 0, 0, 0, 0, 0)
    outage = record(0x03110001)
    assert isinstance(outage, PowerFailure)
    assert (outage.start.hour, outage.end.hour, outage.end.minute) == (2, 2, 1)
    status = record(0x04000503)
    assert isinstance(status, StatusWord)
    assert status.relay_open
    assert status.relay_command_trip
    frozen = decode_item(0x05060101, encode_item(0x05060101, item_values(meter, 0x05060101, now)))  # type: ignore[arg-type]
    assert frozen.readings[0].value == meter.frozen[0].import_wh[0] // 10 * 10
    assert record(0x05060001).at == MeterTime(2025, 3, 5, 0, 0)  # type: ignore[attr-defined]
    assert item_values(meter, 0x12345678, now) is None
