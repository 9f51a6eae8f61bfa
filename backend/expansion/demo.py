"""The demo's applications for supply, made through the same service calls as the API: one
waiting in acceptance for a document, one overdue at its site survey, a low-voltage one at its
supply plan, a key account's capacity increase in the green channel, one energised (a manually
read meter), and one at its energise step for the spare meter the demo's agent already polls
(energise it, and its first reading arrives from the simulator through the agent)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import CustomerCategory
from backend.auth.guards import Caller, load_caller
from backend.auth.models import User
from backend.expansion import energise, service
from backend.expansion.models import ApplicationKind, DocumentKind, SupplyType
from backend.expansion.process import shipped_book
from backend.expansion.schemas import (
    ApplicationCreate,
    ApplicationView,
    Energise,
    StepMove,
    SurveyRecord,
)
from backend.field.grids.models import TransformerArea
from backend.field.readings import photos
from backend.field.readings.schemas import GpsFix
from backend.servicedesk.workflow.service import WorkingTime

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# a one-pixel PNG stands in for the photos of papers and of the site
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


class _Demo:
    def __init__(self, session: AsyncSession, wt: WorkingTime, root: Path, tz: str) -> None:
        self.s, self.wt, self.root, self.tz = session, wt, root, tz
        self.book = shipped_book()
        self.photo = ""

    async def caller(self, username: str) -> Caller:
        uid = await self.s.scalar(select(User.id).where(User.username == username))
        found = await load_caller(self.s, uid) if uid is not None else None
        assert found is not None, username
        return found

    async def apply(
        self, who: str, key: str, body: ApplicationCreate, at: int
    ) -> ApplicationView | None:
        """The application, or None when an earlier run of the demo made it already."""
        view, new = await service.submit(
            self.s, await self.caller(who), key, body, self.book, self.wt, at
        )
        return view if new else None

    async def documents(
        self, who: str, app: ApplicationView, kinds: list[DocumentKind], at: int
    ) -> ApplicationView:
        for kind in kinds:
            app = await service.add_document(
                self.s,
                await self.caller(who),
                app.id,
                kind,
                PNG + kind.value.encode(),
                self.root,
                self.book,
                at,
            )
        return app

    async def to(self, app: ApplicationView, step: str, at: int, every_ms: int) -> ApplicationView:
        """Move ``app`` on, one step each ``every_ms`` from ``at``, until it reaches ``step``."""
        while app.step != step:
            if app.step == "survey":
                if not self.photo:
                    self.photo = (
                        await photos.store(
                            self.s,
                            self.root,
                            (await self.caller("inspector")).user_id,
                            PNG,
                            "image/png",
                            1_000_000,
                        )
                    ).sha256
                fix = GpsFix(latitude=30.2741, longitude=120.1551, accuracy_m=8, fix_at=at)
                app = await service.survey(
                    self.s,
                    await self.caller("inspector"),
                    app.id,
                    SurveyRecord(
                        version=app.version, fix=fix, photos=[self.photo], note="表箱位置已定"
                    ),
                    self.book,
                    self.wt,
                    at,
                )
            else:
                app = await service.advance(
                    self.s,
                    await self.caller("operator"),
                    app.id,
                    StepMove(step=app.step, version=app.version),
                    self.book,
                    self.wt,
                    at,
                )
            at += every_ms
        return app


def _residential(name: str, address: str, area: int) -> ApplicationCreate:
    return ApplicationCreate(
        supply_type=SupplyType.RESIDENTIAL,
        category=CustomerCategory.RESIDENTIAL,
        applicant_name=name,
        phone="13700000000",
        address=address,
        capacity_kva=8,
        transformer_area_id=area,
    )


async def seed_applications(
    factory: async_sessionmaker[AsyncSession],
    wt: WorkingTime,
    tz: str,
    spare_meters: list[str],
    area_code: str,
    root: Path,
    now_ms: int | None = None,
) -> None:
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    docs = [DocumentKind.ID_CARD, DocumentKind.PROPERTY_PROOF]
    async with factory() as session:
        area = await session.scalar(
            select(TransformerArea.id).where(TransformerArea.code == area_code)
        )
        assert area is not None
        d = _Demo(session, wt, root, tz)
        # a customer's own, online: waiting in acceptance for the proof of property
        if app := await d.apply(
            "customer",
            "demo-yk-online",
            _residential("林晓", "文三路 18 号 3 单元 201", area),
            now - 2 * HOUR_MS,
        ):
            await d.documents("customer", app, [DocumentKind.ID_CARD], now - HOUR_MS)
        # at the counter six days ago, accepted, and its site survey is overdue
        if app := await d.apply(
            "operator",
            "demo-yk-overdue",
            _residential("赵大山", "文三路 20 号 101", area),
            now - 6 * DAY_MS,
        ):
            app = await d.documents("operator", app, docs, now - 6 * DAY_MS)
            await d.to(app, "survey", now - 6 * DAY_MS + HOUR_MS, HOUR_MS)
        # a shop, low voltage, surveyed and now at its supply plan
        shop = ApplicationCreate(
            supply_type=SupplyType.LOW_VOLTAGE,
            category=CustomerCategory.COMMERCIAL,
            applicant_name="文三路便利店",
            phone="0571-88880000",
            address="文三路 22 号",
            capacity_kva=30,
            transformer_area_id=area,
        )
        if app := await d.apply("inspector", "demo-yk-shop", shop, now - DAY_MS):
            app = await d.documents(
                "inspector",
                app,
                [
                    DocumentKind.BUSINESS_LICENCE,
                    DocumentKind.PROPERTY_PROOF,
                    DocumentKind.AUTHORISATION,
                ],
                now - DAY_MS,
            )
            await d.to(app, "plan", now - DAY_MS + HOUR_MS, 2 * HOUR_MS)
        # the key account's capacity increase: green channel, accepted with papers to follow
        key = await session.scalar(select(User.customer_id).where(User.username == "keyaccount"))
        if key is not None:
            more = ApplicationCreate(
                supply_type=SupplyType.HIGH_VOLTAGE,
                category=CustomerCategory.LARGE_INDUSTRY,
                kind=ApplicationKind.INCREASE,
                applicant_name="西湖精密制造",
                phone="0571-87001234",
                address="文三路 300 号",
                capacity_kva=1250,
                customer_id=key,
            )
            if app := await d.apply("operator", "demo-yk-green", more, now - 3 * HOUR_MS):
                await d.to(app, "survey", now - 2 * HOUR_MS, HOUR_MS)
        # energised a week ago: a manually read meter
        if app := await d.apply(
            "operator",
            "demo-yk-done",
            _residential("钱小雨", "文三路 24 号 402", area),
            now - 9 * DAY_MS,
        ):
            app = await d.documents("operator", app, docs, now - 9 * DAY_MS)
            app = await d.to(app, "energise", now - 9 * DAY_MS + HOUR_MS, DAY_MS)
            await energise.energise(
                session,
                await d.caller("inspector"),
                app.id,
                Energise(
                    version=app.version,
                    meter_id="yk-manual-0001",
                    protocol="manual",
                ),
                d.book,
                tz,
                now - 4 * DAY_MS,
            )
        # at its energise step for the spare meter on the agent's bus
        for i in range(len(spare_meters)):
            if app := await d.apply(
                "operator",
                f"demo-yk-spare-{i}",
                _residential("孙新居", f"文三路 26 号 {i + 1}01", area),
                now - 4 * HOUR_MS,
            ):
                app = await d.documents("operator", app, docs, now - 4 * HOUR_MS)
                await d.to(app, "energise", now - 3 * HOUR_MS, 30 * 60_000)
