"""Applications for supply (业扩报装): the application, its documents, its stay at each step of
its process, and the timeline of who did what."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.texts import TextCode
from backend.types import UTCDateTime, str_enum, utcnow


class SupplyType(enum.StrEnum):
    """The three published service commitments differ by these (供电服务承诺)."""

    RESIDENTIAL = "residential"  # 居民
    LOW_VOLTAGE = "low_voltage"  # 低压非居民
    HIGH_VOLTAGE = "high_voltage"  # 高压


class ApplicationKind(enum.StrEnum):
    NEW = "new"  # 新装
    INCREASE = "increase"  # 增容


class ApplicationChannel(enum.StrEnum):
    PWA = "pwa"  # the customer, online (R39)
    COUNTER = "counter"  # the business hall 营业厅
    FIELD = "field"  # a customer manager on site (R113)


class ApplicationStatus(enum.StrEnum):
    OPEN = "open"
    ENERGISED = "energised"  # 送电: the customer, account and meter exist
    CANCELLED = "cancelled"


class WithdrawalReason(enum.StrEnum):
    """Why an application was withdrawn (撤回): a code, worded by the PWA."""

    CUSTOMER_REQUEST = "customer_request"  # 客户申请撤回
    DUPLICATE = "duplicate"  # 重复申请
    DOCUMENTS_NOT_PROVIDED = "documents_not_provided"  # 资料未补齐
    NOT_FEASIBLE = "not_feasible"  # 不具备供电条件
    NO_RESPONSE = "no_response"  # 联系不上客户


class DocumentKind(enum.StrEnum):
    ID_CARD = "id_card"  # 身份证明
    PROPERTY_PROOF = "property_proof"  # 产权证明
    BUSINESS_LICENCE = "business_licence"  # 营业执照
    AUTHORISATION = "authorisation"  # 授权委托书
    LOAD_LIST = "load_list"  # 用电设备清单


class ApplicationEvent(TextCode):
    """The timeline, for people (rendered by the PWA in zh-CN and English)."""

    SUBMITTED = "expansion.submitted"  # {type, kind, channel}
    DOCUMENT = "expansion.document"  # {document}
    WAITING_DOCUMENTS = "expansion.waiting_documents"  # {missing}: acceptance waits
    GREEN_CHANNEL = "expansion.green_channel"  # the key account's shorter deadlines
    ACCEPTED_INCOMPLETE = "expansion.accepted_incomplete"  # {missing}: 容缺受理, green only
    ADVANCED = "expansion.advanced"  # {step, next}
    SURVEYED = "expansion.surveyed"  # {photos}: with a GPS fix
    FEES = "expansion.fees"  # {total_fen}: by the published fee table
    ENERGISED = "expansion.energised"  # {meter, account}
    CANCELLED = "expansion.cancelled"  # {reason}: withdrawn (撤回) before energisation


class Application(Base):
    __tablename__ = "expansion_applications"
    __table_args__ = (
        UniqueConstraint("created_by", "idempotency_key", name="uq_expansion_idempotency"),
        Index("ix_expansion_queue", "status", "step_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # 申请编号 YK-…
    supply_type: Mapped[SupplyType] = mapped_column(str_enum(SupplyType, 16))
    kind: Mapped[ApplicationKind] = mapped_column(str_enum(ApplicationKind, 16))
    channel: Mapped[ApplicationChannel] = mapped_column(str_enum(ApplicationChannel, 16))
    status: Mapped[ApplicationStatus] = mapped_column(
        str_enum(ApplicationStatus, 16), default=ApplicationStatus.OPEN
    )
    # who applies: a customer user (their own), or staff for a person at the counter / on site
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    capacity_kva: Mapped[int] = mapped_column(Integer)  # applied capacity (报装容量)
    category: Mapped[str] = mapped_column(String(32))  # 用电类别 (accounts.CustomerCategory)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    transformer_area_id: Mapped[int | None] = mapped_column(ForeignKey("transformer_areas.id"))
    green_channel: Mapped[bool] = mapped_column(Boolean, default=False)  # 绿色通道
    # where it stands
    step: Mapped[str] = mapped_column(String(32))
    step_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    step_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)  # every move compares-and-sets
    # the site survey (现场勘查): a GPS fix and photos stored as the field photos are
    survey_latitude: Mapped[float | None] = mapped_column(Float)
    survey_longitude: Mapped[float | None] = mapped_column(Float)
    survey_accuracy_m: Mapped[float | None] = mapped_column(Float)
    survey_photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    survey_note: Mapped[str] = mapped_column(Text, default="")
    # fees by the published table only: the lines as computed, the total in fen
    fee_lines: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    fees_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # energisation: the meter to install (its agent, protocol, address) and what it made
    meter_id: Mapped[str] = mapped_column(String(64), default="")
    meter_protocol: Mapped[str] = mapped_column(String(16), default="")
    meter_address: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    created_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    meter_pk: Mapped[int | None] = mapped_column(ForeignKey("meters.id"))
    energised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplicationDocument(Base):
    """A document (photo or PDF) of an application, stored once under its SHA-256."""

    __tablename__ = "expansion_documents"
    __table_args__ = (
        UniqueConstraint("application_id", "kind", "sha256", name="uq_expansion_documents"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("expansion_applications.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, 32))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplicationStep(Base):
    """One stay at one step: when it came, when it was due, when it left. Lead times and the
    on-time rate are read from these."""

    __tablename__ = "expansion_steps"
    __table_args__ = (Index("ix_expansion_steps_finished", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("expansion_applications.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ApplicationEntry(Base):
    """The timeline: one row per thing that happened, by whom."""

    __tablename__ = "expansion_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("expansion_applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    code: Mapped[ApplicationEvent] = mapped_column(str_enum(ApplicationEvent, 40))
    step: Mapped[str] = mapped_column(String(32), default="")
    params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
