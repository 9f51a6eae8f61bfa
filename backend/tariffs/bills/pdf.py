"""An issued bill as a PDF (pure: the bill's fields in, bytes out), worded in the customer's
language like the PWA's bill screen: bill number, period, account, every line explained
("第一档 2,880 kWh × 0.4883 元"), total, due date, late fees and what is owed.

Chinese is set in reportlab's built-in CID font ``STSong-Light`` (no font file: the reader's
viewer supplies the glyphs); text that Latin-1 covers is set in Helvetica. Page streams are
left uncompressed (a bill is one small page) and the document is invariant (no creation
time), so the same bill prints to the same bytes.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import msgspec
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from backend.tariffs.bill import BillLine, BillText, month_days

CJK = "STSong-Light"
LATIN = "Helvetica"
pdfmetrics.registerFont(UnicodeCIDFont(CJK))


class PrintedBill(msgspec.Struct, frozen=True):
    """What the PDF shows; the route fills it from the stored bill and its state."""

    number: str
    month: str
    revision: int
    account_number: str
    customer_name: str
    lines: list[BillLine]
    total_fen: int
    energy_wh: int
    due_on: date
    late_fee_fen: int
    owed_fen: int
    superseded: bool = False


# the same templates as the app's (pwa/src/i18n: bill.*, cust.issued.*)
WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "电费账单",
        "number": "账单号",
        "period": "账期",
        "account": "户号",
        "revision": "更正账单（第 {n} 次更正）",
        "superseded": "本账单已被更正账单取代",
        "item": "项目",
        "amount": "金额",
        "total": "合计",
        "energy": "用电量",
        "due": "缴费截止日",
        "late_fee": "违约金",
        "owed": "未缴",
        "paid": "已缴清",
        BillText.ENERGY: "{tier}{period} {kwh} × {price} 元",
        BillText.CAPACITY: "容量电费 {kva} kVA × {price} 元",
        BillText.DEMAND: "需量电费 {kw} kW × {price} 元",
        BillText.POWER_FACTOR: (
            "力调电费 功率因数 {factor}（考核 {target}）{percent}% × {base} 元"
        ),
        "tier.1": "第一档",
        "tier.2": "第二档",
        "tier.3": "第三档",
        "tier": "第{n}档",
        "period.sharp": "尖峰",
        "period.peak": "高峰",
        "period.flat": "平段",
        "period.valley": "低谷",
    },
    "en": {
        "title": "Electricity bill",
        "number": "Bill number",
        "period": "Period",
        "account": "Account",
        "revision": "Revised bill (revision {n})",
        "superseded": "This bill was replaced by a revision",
        "item": "Item",
        "amount": "Amount",
        "total": "Total",
        "energy": "Energy",
        "due": "Due by",
        "late_fee": "Late fee",
        "owed": "Unpaid",
        "paid": "Paid",
        BillText.ENERGY: "{tier}{period} {kwh} × ¥{price}",
        BillText.CAPACITY: "Capacity charge {kva} kVA × ¥{price}",
        BillText.DEMAND: "Demand charge {kw} kW × ¥{price}",
        BillText.POWER_FACTOR: (
            "Power-factor adjustment: factor {factor} (target {target}) {percent}% × ¥{base}"
        ),
        "tier.1": "Tier 1",
        "tier.2": "Tier 2",
        "tier.3": "Tier 3",
        "tier": "Tier {n}",
        "period.sharp": "sharp peak",
        "period.peak": "peak",
        "period.flat": "flat",
        "period.valley": "valley",
    },
}


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def kwh(wh: int) -> str:
    """Whole kWh without decimals, otherwise three (as the screen shows a bill line)."""
    digits = 0 if wh % 1000 == 0 else 3
    return f"{Decimal(wh).scaleb(-3):,.{digits}f} kWh"


def line_text(line: BillLine, words: dict[str, str], periods: bool) -> str:
    """One bill line in the reader's language; ``periods`` false: a tariff without time of
    use (the period is not named)."""
    p = line.params
    if line.code is BillText.ENERGY:
        n = int(p["tier"])
        tier = words.get(f"tier.{n}") or words["tier"].format(n=n)
        period = f" {words['period.' + str(p['period'])]}" if periods else ""
        return words[BillText.ENERGY].format(
            tier=tier, period=period, kwh=kwh(int(p["energy_wh"])), price=p["price"]
        )
    if line.code is BillText.DEMAND:
        kw = Decimal(int(p["demand_w"])).scaleb(-3).normalize()
        return words[BillText.DEMAND].format(kw=f"{kw:,f}", price=p["price"])
    if line.code is BillText.POWER_FACTOR:
        base = f"{Decimal(str(p['base'])):.2f}"
        return words[BillText.POWER_FACTOR].format_map({**p, "base": base})
    return words[line.code].format_map(p)


class _Page:
    """A cursor down an A4 page; each text run in the font that has its glyphs."""

    def __init__(self, c: canvas.Canvas) -> None:
        self.c = c
        self.y = A4[1] - 60

    def text(self, x: float, s: str, size: int = 11, right: bool = False) -> None:
        font = LATIN if all(ord(ch) < 256 for ch in s) else CJK
        self.c.setFont(font, size)
        if right:
            self.c.drawRightString(x, self.y, s)
        else:
            self.c.drawString(x, self.y, s)

    def row(self, label: str, value: str, size: int = 11) -> None:
        self.text(50, label, size)
        self.text(A4[0] - 50, value, size, right=True)
        self.down(size + 7)

    def down(self, by: float) -> None:
        self.y -= by
        if self.y < 60:
            self.c.showPage()
            self.y = A4[1] - 60

    def rule(self) -> None:
        self.c.line(50, self.y + 8, A4[0] - 50, self.y + 8)
        self.down(6)


def render(bill: PrintedBill, language: str) -> bytes:
    """The bill as PDF bytes in ``language`` (zh-CN when not one of ours)."""
    w = WORDS.get(language, WORDS["zh-CN"])
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, pageCompression=0, invariant=1)
    c.setTitle(f"{w['title']} {bill.number}")
    page = _Page(c)
    page.text(50, w["title"], 18)
    page.down(30)
    first, nxt = month_days(bill.month)
    last = date.fromordinal(nxt.toordinal() - 1)
    page.row(w["number"], bill.number)
    page.row(w["period"], f"{bill.month} ({first.isoformat()} – {last.isoformat()})")
    page.row(w["account"], f"{bill.account_number} {bill.customer_name}".strip())
    if bill.revision > 0:
        page.text(50, w["revision"].format(n=bill.revision))
        page.down(18)
    if bill.superseded:
        page.text(50, w["superseded"])
        page.down(18)
    page.down(10)
    page.row(w["item"], w["amount"], 10)
    page.rule()
    periods = any(
        ln.code is BillText.ENERGY and ln.params.get("period") != "flat" for ln in bill.lines
    )
    for ln in bill.lines:
        page.row(line_text(ln, w, periods), yuan(ln.amount_fen))
    page.rule()
    page.row(w["total"], yuan(bill.total_fen), 13)
    page.row(w["energy"], kwh(bill.energy_wh))
    page.row(w["due"], bill.due_on.isoformat())
    page.row(w["late_fee"], yuan(bill.late_fee_fen))
    page.row(w["owed"] if bill.owed_fen > 0 else w["paid"], yuan(max(0, bill.owed_fen)))
    c.showPage()
    c.save()
    return out.getvalue()
