"""docker-compose.yml sketches production consistently and keeps secrets out of the repo."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.support.services import PRODUCTION_POSTGRES

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    assert {"postgres", "mosquitto", "migrate", "api", "ingest"} <= set(services)
    assert services["ingest"]["environment"]["METERLINE_MQTT_SHARE_GROUP"] == "ingest"
    assert services["api"]["environment"]["METERLINE_INGEST"] == "false"


def test_every_dependency_and_mounted_file_exists() -> None:
    compose = _compose()
    services = compose["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                if source.endswith(("/passwd", "/certs")):
                    continue  # created at deploy time, never committed
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    keys = list(re.finditer(r"^\s*[A-Z_]*(PASSWORD|SECRET)[A-Z_]*:\s*(\S+)", text, re.M))
    assert len(keys) >= 2
    for match in keys:
        assert match.group(2).startswith("${"), f"literal secret: {match.group(0)}"
    assert not re.search(r"://[^:/\s]+:(?!\$\{)[^@\s]+@", text), "literal password in a URL"
    assert "passwd" in (ROOT / ".gitignore").read_text()


def test_work_that_must_run_once_runs_on_the_leader_of_replicas_sharing_postgresql() -> None:
    """The sweep and command dispatch run on every API replica's settings, and the PostgreSQL
    advisory lock lets one of them work at a time (backend/system/leader.py)."""
    services = _compose()["services"]
    sweeping = [
        name
        for name, svc in services.items()
        if svc.get("command", [None, None])[1:2] == ["serve"]
        and svc["environment"].get("METERLINE_PREPAID_SWEEP_SECONDS", "300") != "0"
    ]
    assert sweeping == ["api"]
    api = services["api"]
    assert api["environment"]["METERLINE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert api["environment"]["METERLINE_COMMAND_DISPATCH"] == "true"
    assert api["deploy"]["replicas"] > 1


def test_brokers_and_the_api_are_reached_over_tls_only() -> None:
    services = _compose()["services"]
    assert services["mosquitto"]["ports"] == ["8883:8883"]
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    active = [ln.strip() for ln in conf.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "listener 8883" in active
    assert any(ln.startswith("certfile ") for ln in active)
    nginx = (ROOT / "deploy/nginx.conf").read_text()
    assert "listen 443 ssl;" in nginx
    assert "return 301 https://" in nginx
    assert "limit_req zone=meterline_login" in nginx
    assert services["api"]["environment"]["METERLINE_HTTP_TLS"] == "true"


def test_the_benchmarks_durable_cluster_runs_with_the_settings_production_ships() -> None:
    """``docker-compose.yml``'s PostgreSQL and the benchmarks' durable cluster
    (``start_postgres(durable=True)``, whose settings tests/integration/test_services.py
    reads back) take the same settings: what the benchmarks measure is what production runs."""
    command = _compose()["services"]["postgres"]["command"]
    assert command[0] == "postgres"
    assert command[1::2] == ["-c"] * len(PRODUCTION_POSTGRES)
    assert tuple(command[2::2]) == PRODUCTION_POSTGRES
