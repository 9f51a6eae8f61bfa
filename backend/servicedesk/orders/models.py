"""Work orders (工单), the steps through their workflow's nodes, and the timeline of who did
what (the accountability trail, R65)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.servicedesk.workflow.models import OrderChannel, OrderKind
from backend.texts import TextCode
from backend.types import UTCDateTime, str_enum, utcnow


class OrderStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class StepOutcome(enum.StrEnum):
    DONE = "done"  # someone did it (or the event it waits for came)
    AUTO = "auto"  # its deadline passed and the workflow pushed it on (R64)
    LINKED = "linked"  # a fault linked to a known outage: no dispatch of its own
    CLOSED = "closed"  # the order was closed while at this node


class OrderEvent(TextCode):
    """The timeline, for people: each entry is one of these codes with its parameters."""

    CREATED = "order.created"  # {kind, channel}
    TAKEN = "order.taken"  # {to_user}: an order reported from the app found its owner
    ADVANCED = "order.advanced"  # {node, next}
    AUTO_ADVANCED = "order.auto_advanced"  # {node, next, due_at}: on timeout, for accountability
    ESCALATED = "order.escalated"  # {node, due_at}
    TRANSFERRED = "order.transferred"  # {from_user, to_user, reason}
    DISPATCHED = "order.dispatched"  # {crew}
    CREW_ARRIVED = "order.crew_arrived"  # {job}
    REPAIRED = "order.repaired"  # {job}
    LINKED_OUTAGE = "order.linked_outage"  # {outage}
    OUTAGE_FOUND = "order.outage_found"  # {outage, area, off_at}: opened from the meters
    POWER_RESTORED = "order.power_restored"  # {outage, on_at}: closed when power came back
    CLOSED = "order.closed"  # {result}
    RETURN_VISIT = "order.return_visit"  # {satisfaction}
    RATED = "order.rated"  # {satisfaction}
    FIELD_TASK = "order.field_task"  # {task, task_kind}: a field task made for an inspector
    COMMAND = "order.command"  # {command, kind, state}: through the four-eyes path


class WorkOrder(Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("created_by", "idempotency_key", name="uq_work_orders_idempotency"),
        Index("ix_work_orders_queue", "status", "node_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, 16))
    channel: Mapped[OrderChannel] = mapped_column(str_enum(OrderChannel, 16))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, 16), default=OrderStatus.OPEN)
    # who and where, when known
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    meter_pk: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    transformer_area_id: Mapped[int | None] = mapped_column(ForeignKey("transformer_areas.id"))
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text)
    # 首问负责制: the first person to take it owns it to the end (or until an audited transfer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    # where it stands in its workflow
    node: Mapped[str] = mapped_column(String(32))
    node_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    node_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)  # this node's, by the sweep
    version: Mapped[int] = mapped_column(Integer, default=1)  # every decision compares-and-sets
    # links
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    repair_job_id: Mapped[int | None] = mapped_column(ForeignKey("repair_jobs.id"))
    # a customer's report may carry a photo, stored as the field photos are
    photo_sha256: Mapped[str | None] = mapped_column(String(64), ForeignKey("field_photos.sha256"))
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outage_notices.id"))
    # close, return visit, rating
    result: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_contact_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    return_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    return_visit_note: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)  # 1..5
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    # Idempotency-Key of the creating request, per creator, and what that request said
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkOrderStep(Base):
    """One stay of an order at one node: when it came, when it was due, when and how it left.
    Lead time per node and the on-time rate are read from these."""

    __tablename__ = "work_order_steps"
    __table_args__ = (Index("ix_work_order_steps_finished", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    node: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    outcome: Mapped[StepOutcome | None] = mapped_column(str_enum(StepOutcome, 16))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkOrderEvent(Base):
    """The timeline: one row per thing that happened, by whom (None: the workflow itself)."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    code: Mapped[OrderEvent] = mapped_column(str_enum(OrderEvent, 32))
    node: Mapped[str] = mapped_column(String(32), default="")
    params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
