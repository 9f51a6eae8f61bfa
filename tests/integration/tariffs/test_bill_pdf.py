"""An issued bill as a PDF: a real PDF (header, one page by its page tree, an xref that points at
its objects), the bill number, period, account and every line worded in the customer's language
(the Chinese in the CID font's UCS-2), scoped like the bill: another customer's bill is 404."""

from __future__ import annotations

import re

from backend.tariffs.bills.pdf import kwh, yuan
from tests.integration.api.conftest import Api
from tests.integration.tariffs.test_issued_bills import _bob_uses_100_kwh_in_november, _issue
from tests.integration.tariffs.test_issued_bills import api as api  # the fixture


def _texts(pdf: bytes) -> list[str]:
    """Every string shown with Tj in the font then current: Latin-1 as is, the CID font's
    (UniGB-UCS2-H) as UTF-16BE."""
    out, font = [], b""
    for op in re.finditer(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", pdf, re.S):
        if op.group(1) is not None:
            font = op.group(1)
            continue
        s = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), op.group(2))
        s = re.sub(rb"\\(.)", rb"\1", s, flags=re.S)
        out.append(s.decode("utf-16-be") if _is_cid(pdf, font) else s.decode("latin-1"))
    return out


def _is_cid(pdf: bytes, font: bytes) -> bool:
    return re.search(rb"/Encoding /UniGB-UCS2-H /Name /" + font + rb"\b", pdf) is not None


def _page_count(pdf: bytes) -> int:
    """From the xref: the object the trailer's /Root names → its /Pages → /Count."""
    start = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    assert pdf[start : start + 4] == b"xref"
    entries = re.findall(rb"(\d{10}) \d{5} n", pdf[start:])
    offsets = [int(e) for e in entries]
    objects = {}
    for off in offsets:
        m = re.match(rb"(\d+) 0 obj(.*?)endobj", pdf[off:], re.S)
        assert m is not None, off  # every xref offset starts an object
        objects[int(m.group(1))] = m.group(2)
    root = int(re.search(rb"/Root (\d+) 0 R", pdf[start:]).group(1))  # type: ignore[union-attr]
    pages = int(re.search(rb"/Pages (\d+) 0 R", objects[root]).group(1))  # type: ignore[union-attr]
    return int(re.search(rb"/Count (\d+)", objects[pages]).group(1))  # type: ignore[union-attr]


async def _bill_id(api: Api) -> int:
    sessions = await _bob_uses_100_kwh_in_november(api)
    await _issue(sessions)
    bob = await api.login("bob")
    r = await api.client.get(f"/api/accounts/{api.world.bob_account}/issued-bills", headers=bob)
    return int(r.json()["items"][0]["id"])


async def test_the_customer_downloads_their_bill_as_a_one_page_pdf_in_chinese(api: Api) -> None:
    bill_id = await _bill_id(api)
    bob = await api.login("bob")
    r = await api.client.get(f"/api/issued-bills/{bill_id}/pdf", headers=bob)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert 'filename="A002-202611-0.pdf"' in r.headers["content-disposition"]
    pdf = r.content
    assert pdf.startswith(b"%PDF-")
    assert _page_count(pdf) == 1
    texts = _texts(pdf)
    assert "电费账单" in texts
    assert "A002-202611-0" in texts
    assert "2026-11 (2026-11-01 – 2026-11-30)" in texts
    assert "第一档 100 kWh × 0.6473 元" in texts  # the line as the screen words it
    assert texts.count("¥64.73") == 3  # the line, the total and what is unpaid
    assert texts[texts.index("未缴") + 1] == "¥64.73"
    assert "2026-12-15" in texts  # due date
    assert "违约金" in texts


async def test_the_pdf_is_worded_in_english_when_asked(api: Api) -> None:
    bill_id = await _bill_id(api)
    bob = await api.login("bob")
    r = await api.client.get(f"/api/issued-bills/{bill_id}/pdf?lang=en", headers=bob)
    assert r.status_code == 200, r.text
    texts = _texts(r.content)
    assert {"Electricity bill", "Tier 1 100 kWh × ¥0.6473", "Due by", "Late fee"} <= set(texts)
    r = await api.client.get(f"/api/issued-bills/{bill_id}/pdf?lang=fr", headers=bob)
    assert r.status_code == 400


async def test_a_customer_cannot_download_another_customers_bill_pdf(api: Api) -> None:
    bill_id = await _bill_id(api)
    alice = await api.login("alice")
    r = await api.client.get(f"/api/issued-bills/{bill_id}/pdf", headers=alice)
    assert r.status_code == 404
    assert r.json()["code"] == "error.bill_not_found"
    r = await api.client.get(f"/api/issued-bills/{bill_id + 999}/pdf", headers=alice)
    assert r.status_code == 404


def test_amounts_and_energy_are_worded_like_the_screen() -> None:
    assert (yuan(123456), yuan(-5), kwh(2_880_000), kwh(1_234_567)) == (
        "¥1,234.56", "-¥0.05", "2,880 kWh", "1,234.567 kWh",
    )  # fmt: skip
