"""Command execution: persist, de-duplicate, wait for not_before, refuse when expired or
against policy, execute on the meter's bus ahead of polls, read the relay state back, ack.

A command never executes twice. Before each attempt the journal records ``executing`` (fsynced);
after a crash, a command found ``executing`` is *not* sent again: the agent reads the relay
state back and reports what it sees. Within one run a relay command is retried (up to
``commands.max_attempts``) only when the meter did not answer and the read-back shows the relay
has not yet moved — repeating a trip to a meter that never heard it is safe, repeating one it
obeyed is never needed.
"""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from edge_agent.config import AgentConfig, Meter
from edge_agent.database import StorageError
from edge_agent.drivers.base import Driver, MeterError, MeterTimeout
from edge_agent.journal import EXECUTING, Entry, Journal
from edge_agent.metrics import Metrics
from edge_agent.outbox import Outbox, now_ms
from edge_agent.policy import disconnect_refusal
from edge_agent.scheduler import BusScheduler
from protocols.contract import Command, CommandKind, CommandState, ContractError, RelayState, decode

log = logging.getLogger("edge_agent.commands")

TARGET = {
    CommandKind.DISCONNECT: RelayState.DISCONNECTED,
    CommandKind.RECONNECT: RelayState.CONNECTED,
    CommandKind.ARM_RECONNECT: RelayState.READY_FOR_RECONNECTION,
}


class Outcome(Exception):
    """Raised inside a bus job to end the command in a final state."""

    def __init__(
        self, state: CommandState, relay: RelayState | None = None, error: str | None = None
    ) -> None:
        super().__init__(error or state.value)
        self.state, self.relay, self.error = state, relay, error


class CommandExecutor:
    def __init__(
        self,
        config: AgentConfig,
        journal: Journal,
        outbox: Outbox,
        metrics: Metrics,
        buses: dict[str, BusScheduler],
    ) -> None:
        self.config = config
        self.journal = journal
        self.outbox = outbox
        self.metrics = metrics
        self.tz = ZoneInfo(config.timezone)
        self.where: dict[str, tuple[BusScheduler, Meter]] = {
            m.id: (sched, m) for sched in buses.values() for m in sched.bus.meters
        }
        self.queue: asyncio.Queue[Entry] = asyncio.Queue()
        self.invalid_payloads = 0

    async def receive(self, payload: bytes) -> None:
        """Called for each MQTT message on our commands topic; returns once it is persisted
        (the MQTT PUBACK follows). A payload that is not a Command is counted and dropped."""
        try:
            command: Command = decode(payload, Command)
        except ContractError as exc:
            self.invalid_payloads += 1
            log.error("command payload rejected: %s", exc)
            return
        state, earlier = await self.journal.intake(command, known_meter=command.meter in self.where)
        self.outbox.changed()
        self.metrics.commands.labels(state).inc()
        if state == CommandState.DUPLICATE.value:
            log.info(
                "command %s is a duplicate (earlier: %s)", command.id, earlier and earlier.state
            )
        elif state == "received":
            await self.queue.put(Entry(command, state, 0, None, None))
        else:
            log.warning("command %s refused at intake: %s", command.id, state)

    async def run(self) -> None:
        for entry in await self.journal.unfinished():  # left over from before a restart
            await self.queue.put(entry)
        async with asyncio.TaskGroup() as tg:
            while True:
                entry = await self.queue.get()
                tg.create_task(self._execute(entry), name=f"command-{entry.command.id}")

    async def _execute(self, entry: Entry | None) -> None:
        """Run a command to its end. When the disk refuses a journal write, wait and go on
        from what the journal holds, as after a restart: a command whose execution began is
        read back, never sent again; one that never began is still checked against its window."""
        while entry is not None:
            try:
                await self._execute_once(entry)
                return
            except StorageError:  # logged once by the database
                await asyncio.sleep(1.0)
            except Exception:  # a bug: logged, and this command alone is left unfinished
                log.exception("command %s: its outcome could not be journaled", entry.command.id)
                return
            try:
                unfinished = await self.journal.unfinished()
            except StorageError:
                continue
            entry = next((e for e in unfinished if e.command.id == entry.command.id), None)

    async def _execute_once(self, entry: Entry) -> None:
        command = entry.command
        try:
            await self._wait_for_window(command)
            outcome = await self._outcome(entry)
        except Outcome as o:
            outcome = o
        except StorageError:
            raise
        except Exception as exc:  # a bug must not leave the command hanging without an ack
            log.exception("command %s crashed", command.id)
            outcome = Outcome(CommandState.FAILED, error=f"agent error: {exc}")
        await self.journal.finish(
            command.id, outcome.state, relay_state=outcome.relay, error=outcome.error
        )
        self.outbox.changed()
        self.metrics.commands.labels(outcome.state.value).inc()
        if outcome.state is CommandState.EXECUTED:
            log.info("command %s %s on %s: executed", command.id, command.kind.value,
                     command.meter)  # fmt: skip
        else:  # an operator asks why: say it where the agent's log is kept
            log.warning("command %s %s on %s: %s: %s", command.id, command.kind.value,
                        command.meter, outcome.state.value, outcome.error)  # fmt: skip

    async def _wait_for_window(self, command: Command) -> None:
        now = now_ms()
        if command.not_before > now:
            await asyncio.sleep((min(command.not_before, command.not_after + 1) - now) / 1000)
        if now_ms() > command.not_after:
            raise Outcome(CommandState.REFUSED_EXPIRED, error="expired before it could run")

    async def _outcome(self, entry: Entry) -> Outcome:
        command = entry.command
        bus, meter = self.where[command.meter]
        if entry.state == EXECUTING:  # interrupted by a crash: read back, never resend
            return await bus.submit(lambda d: self._recover(d, meter, command))
        if command.kind is CommandKind.DISCONNECT:
            refusal = disconnect_refusal(self.config.disconnect_policy, now_ms(), self.tz)
            if refusal:
                return Outcome(CommandState.REFUSED_POLICY, error=refusal)
        if command.kind in TARGET:
            return await bus.submit(lambda d: self._relay(d, meter, command))
        return await bus.submit(lambda d: self._other(d, bus, meter, command))

    async def _recover(self, driver: Driver, meter: Meter, command: Command) -> Outcome:
        if command.kind not in TARGET:
            return Outcome(CommandState.FAILED, error="interrupted by an agent restart; not resent")
        state = await _read_back(driver, meter)
        note = f"interrupted by an agent restart; not resent; read-back {_name(state)}"
        if state is TARGET[command.kind]:
            return Outcome(CommandState.EXECUTED, state, note)
        return Outcome(CommandState.FAILED, state, note)

    async def _relay(self, driver: Driver, meter: Meter, command: Command) -> Outcome:
        target = TARGET[command.kind]
        state = await _read_back(driver, meter)
        if state is target:
            return Outcome(CommandState.EXECUTED, state)
        settle = self.config.commands.relay_settle_s
        error = "no attempt made"
        for attempt in range(1, self.config.commands.max_attempts + 1):
            if now_ms() > command.not_after:
                return Outcome(CommandState.REFUSED_EXPIRED, state, "expired while retrying")
            await self.journal.executing(command.id, attempt)
            if now_ms() > command.not_after:  # again after the journal's fsync: never late
                return Outcome(CommandState.REFUSED_EXPIRED, state, "expired while retrying")
            try:
                expected = await driver.relay(
                    meter, command.kind, self.config.commands.relay_valid_s
                )
            except MeterTimeout as exc:
                error = f"attempt {attempt}: {exc}"
            except MeterError as exc:  # the meter refused: no retry
                await asyncio.sleep(settle)
                return Outcome(CommandState.FAILED, await _read_back(driver, meter), str(exc))
            else:
                await asyncio.sleep(settle)
                state = await _read_back(driver, meter)
                if state is expected:
                    return Outcome(CommandState.EXECUTED, state)
                return Outcome(CommandState.FAILED, state, f"read-back shows {_name(state)}")
            await asyncio.sleep(settle)
            state = await _read_back(driver, meter)
            if state is target:
                return Outcome(CommandState.EXECUTED, state)
        return Outcome(CommandState.FAILED, state, error)

    async def _other(
        self, driver: Driver, bus: BusScheduler, meter: Meter, command: Command
    ) -> Outcome:
        error = "no attempt made"
        for attempt in range(1, self.config.commands.max_attempts + 1):
            await self.journal.executing(command.id, attempt)
            try:
                if command.kind is CommandKind.READ_NOW:
                    await bus.poll_now(meter.id)
                else:
                    await driver.time_sync(meter)
                    drift = await driver.clock_drift_ms(meter)
                    if drift is not None and abs(drift) > self.config.clock_drift_limit_s * 1000:
                        return Outcome(CommandState.FAILED, error=f"clock still off by {drift} ms")
                return Outcome(CommandState.EXECUTED)
            except MeterTimeout as exc:
                error = f"attempt {attempt}: {exc}"
            except MeterError as exc:
                return Outcome(CommandState.FAILED, error=str(exc))
        return Outcome(CommandState.FAILED, error=error)


async def _read_back(driver: Driver, meter: Meter) -> RelayState | None:
    try:
        return await driver.relay_state(meter)
    except MeterError as exc:
        log.warning("meter %s: relay state unreadable: %s", meter.id, exc)
        return None


def _name(state: RelayState | None) -> str:
    return "unreadable" if state is None else state.name.lower()
