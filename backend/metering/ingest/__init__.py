"""Ingestion: MQTT uplink messages from agents into the database, acknowledged only after commit.

See ``docs/ingestion.md``. Public API:

- ``Ingestor`` — the service (``start``/``stop``, ``status``, ``stats()``), run by the API
  process's metering lifespan or by ``meterline ingest``;
- ``AffectedInterval`` — what it tells its ``after_commit`` callbacks after every committed
  batch: which (meter, quantity, time span) got new readings (in the API process, metering's
  derived-data path, ``backend.metering.derived``).
"""

from backend.metering.derived import AffectedInterval
from backend.metering.ingest.service import Ingestor
from backend.metering.ingest.stats import IngestStats
from backend.metering.ingest.writer import AfterCommit
from backend.mqtt import default_client_id

__all__ = ["AffectedInterval", "AfterCommit", "IngestStats", "Ingestor", "default_client_id"]
