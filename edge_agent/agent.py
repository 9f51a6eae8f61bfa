"""The agent: one TaskGroup with named tasks — a poller per bus, the uplink, the command
executor and health/metrics. If one dies the group says which; shutdown is clean (a retained
clean death, meter states flushed, the database closed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent import __version__
from edge_agent.config import AgentConfig, Bus, BusProtocol
from edge_agent.database import Database, StorageError
from edge_agent.drivers.base import Driver
from edge_agent.drivers.dlt645 import Dlt645Driver
from edge_agent.drivers.dlt698 import Dlt698Driver
from edge_agent.drivers.modbus import ModbusDriver
from edge_agent.executor import CommandExecutor
from edge_agent.journal import Journal
from edge_agent.meterstate import MeterStates
from edge_agent.metrics import Metrics
from edge_agent.outbox import Outbox, now_ms
from edge_agent.scheduler import BusScheduler
from edge_agent.secrets import RelayCredentials, load_secrets_file, resolve_relay
from edge_agent.uplink import Uplink
from protocols.contract import MeterInfo

log = logging.getLogger("edge_agent")


class _Stop(Exception):
    pass


def make_driver(config: AgentConfig, bus: Bus, metrics: Metrics) -> Driver:
    if bus.protocol in (BusProtocol.DLT645, BusProtocol.DLT698):
        secrets_doc = load_secrets_file(config.secrets_file) if config.secrets_file else None
        creds: dict[str, RelayCredentials] = {
            m.id: resolve_relay(m.relay_secret, secrets_doc)
            for m in bus.meters
            if m.relay_secret is not None
        }
        errors = metrics.frame_errors
        driver = Dlt698Driver if bus.protocol is BusProtocol.DLT698 else Dlt645Driver
        return driver(
            bus, ZoneInfo(config.timezone), creds, lambda kind: errors.labels(bus.name, kind).inc()
        )
    return ModbusDriver(bus)


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.db = Database(Path(config.data_dir) / "agent.db")
        self.metrics = Metrics()
        self.outbox = Outbox(self.db, config.outbox)
        self.outbox.on_commit = self.metrics.outbox_commits.inc
        self.states = MeterStates(self.db)
        self.journal = Journal(self.db)
        self.buses = {
            bus.name: BusScheduler(
                config,
                bus,
                make_driver(config, bus, self.metrics),
                self.outbox,
                self.metrics,
                self.states,
                lag=lambda: self.uplink.lag_s(),  # the uplink is made below
            )
            for bus in config.buses
        }
        self.executor = CommandExecutor(config, self.journal, self.outbox, self.metrics, self.buses)
        meters = [
            MeterInfo(
                meter=m.id,
                protocol=b.protocol.value if b.protocol.value.startswith("dlt") else "modbus",
                address=m.address or str(m.unit or ""),
            )
            for b, m in config.meters()
        ]
        self.uplink = Uplink(config, self.outbox, self.metrics, self.executor.receive, meters)
        self.stop = asyncio.Event()

    async def run(self) -> None:
        broker = self.config.broker
        log.info("agent %s %s starting: %d bus(es), %d meter(s), broker %s:%d",
                 self.config.agent_id, __version__, len(self.buses), len(self.executor.where),
                 broker.host, broker.port)  # fmt: skip
        if self.config.metrics.listen:
            self.metrics.serve(self.config.metrics.listen)
        try:
            async with asyncio.TaskGroup() as tg:
                for name, scheduler in self.buses.items():
                    tg.create_task(scheduler.run(), name=f"poller-{name}")
                tg.create_task(self.uplink.run(), name="uplink")
                tg.create_task(self.executor.run(), name="commands")
                tg.create_task(self._health(), name="health")
                tg.create_task(self._stopper(), name="shutdown")
        except* _Stop:
            pass
        finally:
            await self.outbox.flush()
            await self.states.flush()
            self.db.close()
            log.info("agent stopped")

    async def _stopper(self) -> None:
        await self.stop.wait()
        log.info("shutting down: clean goodbye to the broker")
        await self.uplink.close()
        raise _Stop

    async def _health(self) -> None:
        tick = 0
        while True:
            tick += 1
            with contextlib.suppress(StorageError):  # disk full (logged once): again in 5 s
                await self._check(flush=tick % 12 == 0)
            self.metrics.storage_errors.set(self.db.storage_errors)
            self.metrics.storage_failing.set(int(self.db.failing))
            await asyncio.sleep(5)

    async def _check(self, flush: bool) -> None:
        await self.outbox.expire()
        await self.outbox.report_drops()
        depth = await self.outbox.depth()
        for channel, n in depth.items():
            self.metrics.outbox_depth.labels(channel).set(n)
        oldest = await self.outbox.oldest_created()
        self.metrics.outbox_oldest_age.set(0 if oldest is None else (now_ms() - oldest) / 1000)
        self.metrics.readings_dropped.set(await self.outbox.dropped_total())
        if flush:
            await self.states.flush()


async def run_agent(config: AgentConfig) -> None:
    agent = Agent(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, agent.stop.set)
    await agent.run()
