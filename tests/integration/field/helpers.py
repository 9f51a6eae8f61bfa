"""Request bodies the handheld would send, built from the district."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.field.district import NOW_MS, MeterInfo

MINUTE_MS = 60_000
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256)) * 8 + b"\xff\xd9"


def new_id() -> str:
    return str(uuid.uuid4())


def reading(
    meter: MeterInfo,
    *,
    at: int = NOW_MS - 10 * MINUTE_MS,
    value: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    accuracy_m: float = 6.0,
    device_at: int | None = None,
    client_id: str | None = None,
    photo_sha256: str | None = None,
    tariffs: bool = False,
) -> dict[str, Any]:
    """A confirmed reading of ``meter`` taken at ``at``, standing at the meter by default."""
    total = meter.value_at(at) if value is None else value
    registers = {"energy_import": total}
    if tariffs:  # 尖峰平谷 registers that add up to the total
        quarter = total // 40 * 10
        registers |= {
            "energy_import_t1": quarter,
            "energy_import_t2": quarter,
            "energy_import_t3": quarter,
            "energy_import_t4": total - 3 * quarter,
        }
    body: dict[str, Any] = {
        "client_id": client_id or new_id(),
        "meter_id": meter.meter_id,
        "registers": registers,
        "fix": {
            "latitude": meter.lat if lat is None else lat,
            "longitude": meter.lon if lon is None else lon,
            "accuracy_m": accuracy_m,
            "fix_at": at,
        },
        "device_at": at + 2_000 if device_at is None else device_at,
    }
    if photo_sha256 is not None:
        body["photo_sha256"] = photo_sha256
    return body


def jitter(meter: MeterInfo, n: int) -> tuple[float, float]:
    """A position a metre or two from the meter, different for each n (real fixes jitter)."""
    return meter.lat + 0.00001 * ((n % 3) - 1) + 0.000001 * n, meter.lon + 0.00001 * ((n % 5) - 2)
