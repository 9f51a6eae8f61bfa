"""A broker that speaks only MQTT 3.1.1 (amqtt, the demo's in-process broker): ingestion falls
back from MQTT 5 and still stores what arrives, acknowledged after commit."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from amqtt.broker import Broker
from paho.mqtt.enums import CallbackAPIVersion

from backend.metering.ingest import Ingestor
from backend.settings import load_settings
from protocols.contract import Channel, ReadingBatch, agent_topic, encode
from tests.support.ingest_agent import T0, scalar, settled, until, values
from tests.support.services import free_port


def _publish_311(port: int, payloads: list[bytes]) -> None:
    done = threading.Event()
    acked: set[int] = set()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-1", protocol=mqtt.MQTTv311)
    c.on_publish = lambda _c, _u, mid, _rc, _p: (acked.add(mid), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        mids = [c.publish(agent_topic("agent-1", Channel.READINGS), p, qos=1).mid for p in payloads]
        for _ in range(500):
            if set(mids) <= acked:
                break
            done.wait(0.05)
            done.clear()
        assert set(mids) <= acked
    finally:
        c.disconnect()
        c.loop_stop()


async def test_ingestion_falls_back_to_mqtt_311_when_the_broker_does_not_speak_mqtt_5(
    tmp_path: Path,
) -> None:
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    from backend import migrate

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(database_url)
    settings = load_settings(
        env={},
        database_url=database_url,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        data_dir=str(tmp_path),
    )
    ing = Ingestor(settings, client_id="backend-311", stats_every_s=3600)
    try:
        await ing.start()
        await until(lambda: ing.status == "connected", 20, "connection over MQTT 3.1.1")
        assert ing.mqtt.v5 is False
        payloads = [
            encode(ReadingBatch(agent="agent-1", seq=s, values=values(["m1", "m2"], T0 + s)))
            for s in range(1, 31)
        ]
        import asyncio

        await asyncio.to_thread(_publish_311, port, payloads)
        await settled(ing, 30)
    finally:
        await ing.stop()
        await broker.shutdown()
    assert await scalar(database_url, "SELECT count(*) FROM readings") == 60
