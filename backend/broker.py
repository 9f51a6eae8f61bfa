"""The demo's MQTT broker: a system Mosquitto when one is installed, else amqtt in-process.

amqtt (pure Python) carries a few thousand QoS 1 messages per second and speaks MQTT 3.1.1 only,
without shared subscriptions: enough for the demo, not for production. Both listen on loopback
only and allow anonymous clients, so the demo needs no credentials; production brokers use the
password and ACL files under deploy/mosquitto/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger("meterline.broker")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def _wait_listening(host: str, port: int, limit_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"broker did not listen on {host}:{port}") from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return


@contextlib.asynccontextmanager
async def embedded_broker(port: int, *, prefer_mosquitto: bool = True) -> AsyncIterator[str]:
    """Run a loopback broker for the demo; yields a description of which one."""
    mosquitto = shutil.which("mosquitto", path="/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin")
    if prefer_mosquitto and mosquitto:
        with tempfile.TemporaryDirectory(prefix="meterline-mosquitto-") as tmp:
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(
                f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 100000\nmax_inflight_messages 100\n"
            )
            proc = await asyncio.create_subprocess_exec(
                mosquitto,
                "-c",
                str(conf),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await _wait_listening("127.0.0.1", port)
                yield f"mosquitto ({mosquitto}) on 127.0.0.1:{port}"
            finally:
                proc.terminate()
                await proc.wait()
        return

    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    try:
        yield f"amqtt (in-process) on 127.0.0.1:{port}"
    finally:
        await broker.shutdown()
