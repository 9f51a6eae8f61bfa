"""Every capability's tables, imported in one place so Alembic sees the whole metadata."""

from backend.db import Base
from backend.system import models as _system  # noqa: F401

metadata = Base.metadata
