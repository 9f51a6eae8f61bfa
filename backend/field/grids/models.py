"""Grids (网格) owned by inspectors, and transformer areas (台区)."""

from __future__ import annotations

import enum

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.types import str_enum


class OrgLevel(enum.StrEnum):
    """Levels above the grids (R110): 省 → 市 → 区县; grids sit in a district."""

    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"


PARENT_LEVEL: dict[OrgLevel, OrgLevel | None] = {
    OrgLevel.PROVINCE: None,
    OrgLevel.CITY: OrgLevel.PROVINCE,
    OrgLevel.DISTRICT: OrgLevel.CITY,
}


class OrgUnit(Base):
    """A unit of the organisation (供电公司: province, city, district) (migration 0022)."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    level: Mapped[OrgLevel] = mapped_column(str_enum(OrgLevel, 16))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Grid(Base):
    """A customer manager's (客户经理) territory: every customer and meter belongs to one."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    inspector_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # the district (区县) the grid belongs to; staff scoped to it or above see the grid
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)


class TransformerArea(Base):
    """台区: the customers fed by one distribution transformer."""

    __tablename__ = "transformer_areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)


# --- field work: tasks, reading books, readings, flags, tracks (migration 0006) ---------------
