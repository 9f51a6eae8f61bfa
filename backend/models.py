"""Every capability's tables, imported in one place so Alembic sees the whole metadata."""

from backend.accounts import ledger_models as _ledger  # noqa: F401
from backend.accounts import models as _accounts  # noqa: F401
from backend.accounts import notifications_models as _notices  # noqa: F401
from backend.accounts import topups_models as _topups  # noqa: F401
from backend.auth import models as _auth  # noqa: F401
from backend.commands import models as _commands  # noqa: F401
from backend.db import Base
from backend.field import models as _field  # noqa: F401
from backend.metering import models as _metering  # noqa: F401
from backend.servicedesk import models as _servicedesk  # noqa: F401
from backend.system import models as _system  # noqa: F401
from backend.tariffs import models as _tariffs  # noqa: F401

metadata = Base.metadata
