"""Ingestion: MQTT uplink messages from agents into the database, acknowledged only after commit.

See ``docs/ingestion.md``. Public API:

- ``Ingestor`` — the service (``start``/``stop``, ``status``, ``stats()``), run by the API
  process's lifespan hook or by ``meterline ingest``;
- ``register_after_commit`` / ``AffectedInterval`` — learn which (meter, quantity, time span)
  got new readings after every committed batch (for consumption and other derived data).
"""

from backend.metering.ingest.hooks import (
    AffectedInterval,
    AfterCommit,
    register_after_commit,
    unregister_after_commit,
)
from backend.metering.ingest.service import Ingestor, default_client_id
from backend.metering.ingest.stats import IngestStats

__all__ = [
    "AffectedInterval",
    "AfterCommit",
    "IngestStats",
    "Ingestor",
    "default_client_id",
    "register_after_commit",
    "unregister_after_commit",
]
