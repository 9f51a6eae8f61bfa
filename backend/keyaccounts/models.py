"""Tables of key accounts: profiles and their history, segmentation rules and results, managers,
visits and notes (migration 0017)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
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
from backend.types import UTCDateTime, str_enum, utcnow


class OrgType(enum.StrEnum):
    """What kind of body the customer is: the first input of the R90 classes."""

    GOVERNMENT = "government"  # 重要政府机关
    PUBLIC_SERVICE = "public_service"  # 大型公共事业单位 (hospitals, schools, water, telecom)
    INDUSTRIAL = "industrial"  # 工业企业
    COMMERCIAL = "commercial"  # 商业企业
    AGRICULTURE_AUTHORITY = "agriculture_authority"  # 农业主管部门 (农业局)
    RESIDENTIAL_COMMUNITY = "residential_community"  # 居民社区
    RESIDENTIAL = "residential"  # a household
    OTHER = "other"


class VoltageLevel(enum.StrEnum):
    """Supply voltage (电压等级)."""

    V220 = "0.22kV"
    V380 = "0.4kV"
    KV10 = "10kV"
    KV20 = "20kV"
    KV35 = "35kV"
    KV110 = "110kV"
    KV220 = "220kV"


class CustomerProfile(Base):
    """The key-account profile (客户档案) of one customer: the current version. Every change
    writes the previous state to ``customer_profile_history`` (compare-and-set on ``version``)."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    org_type: Mapped[OrgType] = mapped_column(str_enum(OrgType, 32), default=OrgType.OTHER)
    capacity_kva: Mapped[int] = mapped_column(Integer, default=0)  # 合同容量
    new_capacity_kva: Mapped[int] = mapped_column(Integer, default=0)  # 新报装容量
    voltage_level: Mapped[VoltageLevel | None] = mapped_column(str_enum(VoltageLevel, 8))
    industry_code: Mapped[str] = mapped_column(String(8), default="")  # GB/T 4754, e.g. C3011
    households: Mapped[int] = mapped_column(Integer, default=0)  # residential communities
    industrial_park: Mapped[str] = mapped_column(String(100), default="")
    important: Mapped[bool] = mapped_column(Boolean, default=False)  # R90 class 5, by decision
    technical_contact: Mapped[str] = mapped_column(String(100), default="")
    technical_phone: Mapped[str] = mapped_column(String(32), default="")
    billing_contact: Mapped[str] = mapped_column(String(100), default="")
    billing_phone: Mapped[str] = mapped_column(String(32), default="")
    contract_expires_on: Mapped[date | None] = mapped_column(Date)  # 供用电合同
    # the key-account manager (客户经理); customers of a grid also have the grid's manager
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerProfileVersion(Base):
    """One superseded version of a profile: who changed it, when, and what it was."""

    __tablename__ = "customer_profile_history"
    __table_args__ = (UniqueConstraint("customer_id", "version", name="uq_profile_history"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeyAccountRule(Base):
    """The rule of one R90 key-account class: every condition must hold (see docs)."""

    __tablename__ = "key_account_rules"

    klass: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1..6
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentationSettings(Base):
    """The one row of configurable thresholds (ABC shares, alerts, credit)."""

    __tablename__ = "segmentation_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerSegment(Base):
    """The result of the last segmentation run for one customer."""

    __tablename__ = "customer_segments"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    key_account_classes: Mapped[list[int]] = mapped_column(JSON)
    abc_class: Mapped[str] = mapped_column(String(1))
    annual_revenue_fen: Mapped[int] = mapped_column(BigInteger)
    credit_score: Mapped[int] = mapped_column(Integer)
    credit_rating: Mapped[str] = mapped_column(String(4))  # 信用等级 AAA AA A B C
    credit_inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    # R96/R99/R100: vip, priority or standard; shortens the customer's work-order deadlines
    service_level: Mapped[str] = mapped_column(
        String(16), default="standard", server_default="standard"
    )
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ManagerCard(Base):
    """How a customer reaches their manager: a work phone shown in the customer's app."""

    __tablename__ = "manager_cards"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(32), default="")


class VisitStatus(enum.StrEnum):
    PLANNED = "planned"
    DONE = "done"  # checked in on site
    CANCELLED = "cancelled"


class Visit(Base):
    """A planned customer visit (走访), checked in with the phone's GPS fix."""

    __tablename__ = "ka_visits"
    __table_args__ = (Index("ix_ka_visits_customer", "customer_id", "planned_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True)  # the app's UUID: retry-safe
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    manager_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    planned_for: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(String(200))
    status: Mapped[VisitStatus] = mapped_column(str_enum(VisitStatus, 16))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[int | None] = mapped_column(Integer)  # from the customer's position
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Note(Base):
    """A manager's note on a customer, or a message the customer sent their manager."""

    __tablename__ = "ka_notes"
    __table_args__ = (Index("ix_ka_notes_customer", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)  # customer messages only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TagSource(enum.StrEnum):
    COMPUTED = "computed"  # by the monthly run, from the data (docs/key-accounts.md)
    MANUAL = "manual"  # by a customer manager


class CustomerTag(Base):
    """A value tag (R97) a customer carries now: computed by the run or set by a manager."""

    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_tag", "tag"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[TagSource] = mapped_column(str_enum(TagSource, 16), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerTagEvent(Base):
    """The history of a customer's tags: each tag added or removed, by whom, when."""

    __tablename__ = "customer_tag_events"
    __table_args__ = (Index("ix_customer_tag_events_customer", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    source: Mapped[TagSource] = mapped_column(str_enum(TagSource, 16))
    tag: Mapped[str] = mapped_column(String(32))
    added: Mapped[bool] = mapped_column(Boolean)  # False: removed
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentationRun(Base):
    """One monthly run of segments, credit and tags (the month it closes, YYYY-MM): the leader
    runs a month once; ``meterline keyaccounts recompute --month`` may run it again."""

    __tablename__ = "segmentation_runs"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    customers: Mapped[int] = mapped_column(Integer)
    ran_by: Mapped[str] = mapped_column(String(64))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentKind(enum.StrEnum):
    CONTRACT = "contract"  # 供用电合同
    LICENCE = "licence"  # 营业执照, permits
    OTHER = "other"


class ProfileDocument(Base):
    """A document on a customer's profile (a scan or a PDF), its bytes stored once by SHA-256
    under ``<data_dir>/ka-documents``."""

    __tablename__ = "ka_documents"
    __table_args__ = (Index("ix_ka_documents_customer", "customer_id", "uploaded_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, 16))
    title: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
