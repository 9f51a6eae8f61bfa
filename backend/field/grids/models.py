"""Grids (网格) owned by inspectors, and transformer areas (台区)."""

from __future__ import annotations

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base


class Grid(Base):
    """A customer manager's (客户经理) territory: every customer and meter belongs to one."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    inspector_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True), index=True
    )


class TransformerArea(Base):
    """台区: the customers fed by one distribution transformer."""

    __tablename__ = "transformer_areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)


# --- field work: tasks, reading books, readings, flags, tracks (migration 0006) ---------------
