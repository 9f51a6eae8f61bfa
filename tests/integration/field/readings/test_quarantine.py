"""Plausibility before money, for field readings: an impossible value or one that disagrees
with AMI is held for review (stored, listed, never billed) until a person releases or rejects
it; the inspector sees every finding before confirming."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind
from backend.db import session_factory
from backend.metering.models import Meter, Reading
from backend.prepaid import billing
from backend.prepaid.models import BillingState, Charge, EntryKind, LedgerEntry
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.rating import round_fen
from backend.tariffs.service import store_tariffs
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import NOW_MS, District, MeterInfo
from tests.integration.field.helpers import reading

HOUR_MS = 3_600_000


async def _settled(client: AsyncTestClient) -> None:
    """Wait (at most 20 s) until the app's derived-data path has followed every announcement
    (consumption, then billing), on the app's own loop."""
    deadline = time.monotonic() + 20
    while not client.app.state.derived.is_settled:
        assert time.monotonic() < deadline, "the derived-data path did not settle"
        await asyncio.sleep(0.02)


async def _prepaid(engine: AsyncEngine, meter: MeterInfo) -> int:
    async with session_factory(engine)() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE))
        account = Account(
            number="A-HOLD-1", customer_id=meter.customer_id, kind=AccountKind.PREPAID
        )
        s.add(account)
        await s.flush()
        await s.execute(sa.update(Meter).where(Meter.id == meter.pk).values(account_id=account.id))
        await s.commit()
        return account.id


async def _billed_before(engine: AsyncEngine, meter: MeterInfo, account_id: int) -> Any:
    """Bill the meter's AMI history first: what the ledger holds before the field reading."""
    await billing.bill_meters(session_factory(engine), {meter.pk: None}, ZoneInfo("Asia/Shanghai"))
    return await _money(engine, account_id)


async def _money(engine: AsyncEngine, account_id: int) -> tuple[int, int, list[int]]:
    """(what billing took from the ledger in fen: charges and their reversals; the live
    charges; their Wh)."""
    async with engine.connect() as conn:
        fen = await conn.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen), 0)).where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.kind.in_([EntryKind.CONSUMPTION_CHARGE, EntryKind.REVERSAL]),
            )
        )
        wh = (
            await conn.scalars(
                sa.select(Charge.wh).where(
                    Charge.account_id == account_id, Charge.reversed_at.is_(None)
                )
            )
        ).all()
    return int(fen or 0), len(wh), list(wh)


async def _quality(engine: AsyncEngine, meter: MeterInfo, ts: int) -> str:
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(Reading.quality).where(
                Reading.meter_pk == meter.pk, Reading.ts == ts, Reading.quantity == "energy_import"
            )
        )
    assert found is not None
    return str(found)


def _ami_meter(district: District) -> MeterInfo:
    return district.in_grid("central", ami=True, kind="flat")[0]


async def _submit(
    client: AsyncTestClient, auth: Tokens, body: dict[str, Any], who: str = "insp-central"
) -> None:
    answer = await client.post("/api/field/readings", json=body, headers=auth(who))
    assert answer.status_code == 201, answer.text
    await _settled(client)


async def _held(client: AsyncTestClient, auth: Tokens, meter: MeterInfo) -> list[dict[str, Any]]:
    answer = await client.get(
        "/api/quarantine", params={"meter_id": meter.meter_id}, headers=auth("op-95598")
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_a_field_reading_of_ten_trillion_wh_on_a_prepaid_ami_meter_is_held_not_billed(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = _ami_meter(district)
    account_id = await _prepaid(engine, meter)
    before = await _billed_before(engine, meter, account_id)
    body = reading(meter, value=10**13)
    await _submit(client, auth, body)

    assert await _money(engine, account_id) == before  # the ledger is unchanged
    mine = await client.get(
        f"/api/field/readings/{body['client_id']}", headers=auth("insp-central")
    )
    assert mine.json()["status"] == "held"  # the inspector is told it waits for review
    assert await _quality(engine, meter, body["fix"]["fix_at"]) == "held"
    [held] = await _held(client, auth, meter)
    assert (held["quantity"], held["value"], held["status"], held["source"]) == (
        "energy_import", 10**13, "held", "field",
    )  # fmt: skip
    assert held["reason"] == {
        "code": "quarantine.out_of_range",
        "params": {"value_wh": 10**13, "limit_wh": 10**10},
    }
    # the supervisor sees it too; the inspector has no review list
    assert len((await client.get("/api/quarantine", headers=auth("sup-chen"))).json()) == 1
    assert (await client.get("/api/quarantine", headers=auth("insp-central"))).status_code == 403


async def test_a_field_reading_that_disagrees_with_ami_waits_and_its_release_bills_it_once(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = _ami_meter(district)
    account_id = await _prepaid(engine, meter)
    before = await _billed_before(engine, meter, account_id)
    at = meter.last_ts - HOUR_MS
    body = reading(meter, at=at, value=meter.last_value + 20_000)
    await _submit(client, auth, body)
    assert await _money(engine, account_id) == before
    [held] = await _held(client, auth, meter)
    assert held["reason"]["code"] == "quarantine.ami_disagreement"

    decided = await client.post(
        f"/api/quarantine/{held['id']}/release", json={"note": "换表前的示数，已核实"},
        headers=auth("sup-chen"),
    )  # fmt: skip
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["note"]) == (
        "released",
        "换表前的示数，已核实",
    )
    await _settled(client)
    assert await _quality(engine, meter, at) == "good"
    fen, live, wh = await _money(engine, account_id)
    assert sum(wh) == sum(before[2]) + 20_000  # the released reading is billed
    async with engine.connect() as conn:
        exact = await conn.scalar(
            sa.select(BillingState.exact_total_cny).where(BillingState.account_id == account_id)
        )
    assert -fen == round_fen(Decimal(exact))  # the ledger equals the exact bill

    again = await client.post(
        f"/api/quarantine/{held['id']}/release", json={"note": "再次"}, headers=auth("op-95598")
    )
    assert (again.status_code, again.json()["code"]) == (409, "error.hold_decided")
    await _settled(client)
    assert await _money(engine, account_id) == (fen, live, wh)  # billed exactly once


async def test_a_rejected_held_reading_is_never_billed(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = _ami_meter(district)
    account_id = await _prepaid(engine, meter)
    before = await _billed_before(engine, meter, account_id)
    body = reading(meter, value=10**13)
    await _submit(client, auth, body)
    [held] = await _held(client, auth, meter)
    decided = await client.post(
        f"/api/quarantine/{held['id']}/reject", json={"note": "多按了几个 0"},
        headers=auth("op-95598"),
    )  # fmt: skip
    assert decided.json()["status"] == "rejected"
    await _settled(client)
    assert await _quality(engine, meter, body["fix"]["fix_at"]) == "invalid"
    assert await _money(engine, account_id) == before
    assert await _held(client, auth, meter) == []  # no longer waiting


async def test_parallel_decisions_on_one_held_reading_let_exactly_one_win(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = _ami_meter(district)
    await _prepaid(engine, meter)
    await _submit(client, auth, reading(meter, value=10**13))
    [held] = await _held(client, auth, meter)
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/quarantine/{held['id']}/{'release' if n % 2 else 'reject'}",
                json={"note": f"decision {n}"},
                headers=auth("op-95598" if n % 3 else "sup-chen"),
            )
            for n in range(8)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 7
    winner = next(a.json() for a in answers if a.status_code == 200)
    final = await client.get(f"/api/quarantine/{held['id']}", headers=auth("op-95598"))
    assert (final.json()["status"], final.json()["note"]) == (winner["status"], winner["note"])


async def test_a_held_reading_outside_the_callers_scope_or_unknown_is_not_found(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    missing = await client.post(
        "/api/quarantine/999999/release", json={"note": "x"}, headers=auth("op-95598")
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "error.hold_not_found")
    no_note = await client.post("/api/quarantine/1/release", json={}, headers=auth("op-95598"))
    assert no_note.status_code == 400


async def test_the_inspector_sees_every_finding_before_confirming_and_nothing_is_stored(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = _ami_meter(district)
    at = meter.last_ts - HOUR_MS
    far = reading(meter, at=at, value=meter.last_value + 20_000, lat=meter.lat + 0.01)
    answer = await client.post("/api/field/readings/check", json=far, headers=auth("insp-central"))
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert {f["kind"] for f in found["flags"]} >= {"far_from_meter", "ami_disagreement"}
    assert all(f["code"].startswith("check.") for f in found["flags"])
    assert [(h["quantity"], h["code"]) for h in found["holds"]] == [
        ("energy_import", "quarantine.ami_disagreement")
    ]
    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.select(sa.func.count()).select_from(Reading).where(Reading.ts == at)
        )
    assert stored == 0
    # the very same body is then submitted as it is
    assert (
        await client.post("/api/field/readings", json=far, headers=auth("insp-central"))
    ).status_code == 201


async def test_a_register_value_beyond_the_api_bound_is_refused_naming_the_field(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    meter = _ami_meter(district)
    for value in (2**63 - 1, -7_000):
        body = reading(meter, value=value)
        answer = await client.post("/api/field/readings", json=body, headers=auth("insp-central"))
        assert answer.status_code == 400
        assert "registers" in answer.json()["field"]


async def test_a_jump_beyond_the_meters_rated_current_is_held(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = district.in_grid("west", ami=False, kind="flat")[0]
    # 60 A × 220 V × 1 phase × 1.5 margin = 19.8 kW: one hour after the last reading, 25 kWh more
    at = meter.last_ts + HOUR_MS
    assert at < NOW_MS
    await _submit(client, auth, reading(meter, at=at, value=meter.last_value + 25_000), "insp-west")
    [held] = await _held(client, auth, meter)
    assert held["reason"]["code"] == "quarantine.jump"
    assert held["reason"]["params"]["allowed_wh"] == 19_800


async def test_releasing_even_ten_trillion_wh_bills_it_exactly_without_overflow(
    client: AsyncTestClient, auth: Tokens, district: District, engine: AsyncEngine
) -> None:
    meter = _ami_meter(district)
    account_id = await _prepaid(engine, meter)
    await _billed_before(engine, meter, account_id)
    await _submit(client, auth, reading(meter, value=10**13))
    [held] = await _held(client, auth, meter)
    decided = await client.post(
        f"/api/quarantine/{held['id']}/release", json={"note": "核实无误（测试）"},
        headers=auth("op-95598"),
    )  # fmt: skip
    assert decided.status_code == 200, decided.text
    await _settled(client)
    fen, _live, wh = await _money(engine, account_id)
    assert max(wh) > 9 * 10**12  # the released interval is billed, in integer Wh
    async with engine.connect() as conn:
        exact = await conn.scalar(
            sa.select(BillingState.exact_total_cny).where(BillingState.account_id == account_id)
        )
    assert -fen == round_fen(Decimal(exact))  # integer fen, exactly the bill
