"""Every capability's tables, imported in one place so Alembic sees the whole metadata."""

from backend.accounts import models as _accounts  # noqa: F401
from backend.areas import models as _areas  # noqa: F401
from backend.areas.theft import models as _theft  # noqa: F401
from backend.auth import models as _auth  # noqa: F401
from backend.commands import models as _commands  # noqa: F401
from backend.db import Base
from backend.expansion import models as _expansion  # noqa: F401
from backend.expansion.changes import models as _changes  # noqa: F401
from backend.field.books import models as _books  # noqa: F401
from backend.field.grids import models as _grids  # noqa: F401
from backend.field.readings import models as _field_readings  # noqa: F401
from backend.field.tracks import models as _tracks  # noqa: F401
from backend.keyaccounts import models as _keyaccounts  # noqa: F401
from backend.keyaccounts.surveys import models as _surveys  # noqa: F401
from backend.metering import models as _metering  # noqa: F401
from backend.metering.quarantine import models as _quarantine  # noqa: F401
from backend.prepaid import models as _prepaid  # noqa: F401
from backend.servicedesk import models as _servicedesk  # noqa: F401
from backend.servicedesk.kb import models as _kb  # noqa: F401
from backend.servicedesk.orders import models as _orders  # noqa: F401
from backend.system import models as _system  # noqa: F401
from backend.tariffs import models as _tariffs  # noqa: F401
from backend.tariffs.bills import models as _bills  # noqa: F401

metadata = Base.metadata
