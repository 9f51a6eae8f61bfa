"""The figures of business expansion, over applications made in a window and in the caller's
scope: lead time per step and per type, the on-time rate (a step is on time when it was left
no later than its deadline), and the time from application to energisation (the figure
utilities publish, 平均接电时长). Means are of clock time in ms, floored."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.expansion.models import Application, ApplicationStep, SupplyType
from backend.expansion.process import Book
from backend.expansion.schemas import Indicators, StepFigure, TypeFigure
from backend.expansion.views import application_scope
from backend.types import from_epoch_ms, to_epoch_ms


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[int]) -> int | None:
    return sum(values) // len(values) if values else None


async def indicators(
    session: AsyncSession, caller: Caller, book: Book, from_ms: int, to_ms: int
) -> Indicators:
    apps = list(
        await session.scalars(
            select(Application).where(
                application_scope(caller),
                Application.created_at >= from_epoch_ms(from_ms),
                Application.created_at < from_epoch_ms(to_ms),
            )
        )
    )
    type_of = {a.id: a.supply_type for a in apps}
    lead: dict[tuple[SupplyType, str], list[int]] = defaultdict(list)
    on_time: dict[tuple[SupplyType, str], int] = defaultdict(int)
    if apps:
        stays = await session.scalars(
            select(ApplicationStep).where(
                ApplicationStep.application_id.in_(list(type_of)),
                ApplicationStep.finished_at.is_not(None),
            )
        )
        for stay in stays:
            assert stay.finished_at is not None
            key = (type_of[stay.application_id], stay.step)
            lead[key].append(to_epoch_ms(stay.finished_at) - to_epoch_ms(stay.started_at))
            on_time[key] += stay.finished_at <= stay.due_at
    types, steps = [], []
    for process in book.types:
        t = process.type
        mine = [a for a in apps if a.supply_type is t]
        done = [a for a in mine if a.energised_at is not None]
        finished = sum(len(lead[(t, s.key)]) for s in process.steps)
        timely = sum(on_time[(t, s.key)] for s in process.steps)
        types.append(
            TypeFigure(
                supply_type=t,
                applications=len(mine),
                energised=len(done),
                mean_to_energise_ms=_mean(
                    [
                        to_epoch_ms(a.energised_at) - to_epoch_ms(a.created_at)
                        for a in done
                        if a.energised_at is not None
                    ]
                ),
                steps_finished=finished,
                steps_on_time=timely,
                on_time_rate=_rate(timely, finished),
            )
        )
        for s in process.steps:
            n = len(lead[(t, s.key)])
            steps.append(
                StepFigure(
                    supply_type=t,
                    step=s.key,
                    finished=n,
                    on_time=on_time[(t, s.key)],
                    on_time_rate=_rate(on_time[(t, s.key)], n),
                    mean_lead_ms=_mean(lead[(t, s.key)]),
                )
            )
    return Indicators(from_ms=from_ms, to_ms=to_ms, types=types, steps=steps)
