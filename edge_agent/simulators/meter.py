"""A simulated electricity meter: load, registers, tariffs, relay, clock, freezes and events.

The model is deterministic given its :class:`MeterConfig` (seed included) and the times it is
handed: it never reads a clock. Power is constant within each true-time minute (a pure function
of seed and minute, see :mod:`.loadshape`), and energy is integrated exactly in integer
watt-milliseconds, split at minute and tariff boundaries. So the registers are the same however
often the meter is polled, and they only ever rise.

Tariffs, the midnight freeze and event timestamps follow the *meter's* clock, which may be off
and drift (as real meters' clocks do until a broadcast time sync sets them); the load follows
true local time, because customers do.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from edge_agent.simulators.loadshape import (
    DEFAULT_TOU,
    MINUTES_PER_DAY,
    MONTH_FACTOR,
    SHAPES,
    Profile,
    Tariff,
    TouSchedule,
    mix,
    smooth_noise,
    unit_noise,
)
from edge_agent.simulators.physics import Instantaneous, instantaneous, reactive_w
from edge_agent.simulators.records import (
    DailyFreeze,
    Demand,
    EventLog,
    PowerFailureRecord,
    RelayRecord,
    RelayRefused,
)
from protocols.contract.messages import RelayState
from protocols.contract.quantities import Quantity as Q

# Meter clocks show local time without a zone (as DL/T 645 carries it): naive datetimes here
# are meter local time on purpose, counted from this naive epoch.
LOCAL_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001
MINUTE_MS = 60_000
DAY_MS = 86_400_000
WMS_PER_WH = 3_600_000  # watt-milliseconds in a watt-hour
DEMAND_WINDOW = 15  # minutes; 滑差式需量 with a one-minute slide
LOCAL_OPERATOR = "FFFFFFFF"  # operator code recorded for the customer's button press


@dataclass(frozen=True)
class MeterConfig:
    meter_id: str
    profile: Profile = Profile.RESIDENTIAL
    phases: int = 1
    peak_w: int = 4000  # typical weekday peak; summer and noise can go above it
    seed: int = 0
    initial_import_wh: int = 0
    nominal_voltage_mv: int = 220_000
    power_factor: int = 950  # typical, in thousandths
    clock_offset_ms: int = 0  # meter clock minus true time, at creation
    clock_drift_ppm: float = 0.0  # how fast the meter clock runs away
    tou: TouSchedule = DEFAULT_TOU
    timezone: str = "Asia/Shanghai"
    frozen_days: int = 62  # daily freezes kept (DL/T 645 reads 1..62 days back)
    events_kept: int = 10  # records kept per event kind (DL/T 645 reads 1..10 back)

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError("a meter has 1 or 3 phases")

    @classmethod
    def generate(
        cls, meter_id: str, seed: int, profile: Profile, *, clock_error: bool = True
    ) -> MeterConfig:
        """Plausible, seeded parameters for one meter of a fleet."""

        def uniform(n: int, low: float, high: float) -> float:
            return low + (high - low) * (unit_noise(seed, n) + 1) / 2

        residential = profile is Profile.RESIDENTIAL
        return cls(
            meter_id=meter_id,
            profile=profile,
            phases=1 if residential else 3,
            peak_w=round(uniform(1, 2500, 6500) if residential else uniform(1, 15_000, 55_000)),
            seed=seed,
            initial_import_wh=round(uniform(2, 1e6, 2e7) if residential else uniform(2, 5e7, 5e8)),
            power_factor=round(uniform(3, 930, 980) if residential else uniform(3, 860, 940)),
            clock_offset_ms=round(uniform(4, -30_000, 30_000)) if clock_error else 0,
            clock_drift_ppm=round(uniform(5, -20, 20), 1) if clock_error else 0.0,
        )


class MeterModel:
    """One meter's state. Every method that observes or changes it takes ``now_ms``."""

    def __init__(self, config: MeterConfig, now_ms: int) -> None:
        self.config = config
        self.now_ms = now_ms
        self._tz = ZoneInfo(config.timezone)
        self._offsets: dict[int, int] = {}
        self._days: dict[int, tuple[tuple[float, ...], float]] = {}  # local day -> shape, scale
        self._seeds = (mix(config.seed, 2), mix(config.seed, 5))
        self._minute_cache = (-1, 0, 0)  # minute, active W, reactive var
        # Energy in watt-milliseconds by tariff (index 0 unused); the opening reading is spread
        # over the tariffs as a typical household's split would be.
        opening = config.initial_import_wh * WMS_PER_WH
        split = (0, 10, 30, 35, 25)
        self._import = [opening * share // 100 for share in split]
        self._import[Tariff.FLAT] += opening - sum(self._import)
        self._reactive = [value // 3 for value in self._import]
        self.relay = RelayState.CONNECTED
        self.keep_power = False  # 保电
        self.alarm = False  # 报警 (pre-trip warning)
        self.powered = True
        self._clock_offset_at = (now_ms, config.clock_offset_ms)
        kept = config.events_kept
        self.events = EventLog(deque(maxlen=kept), deque(maxlen=kept), deque(maxlen=kept))
        self.frozen: deque[DailyFreeze] = deque(maxlen=config.frozen_days)  # newest first
        self._last_freeze_day = self._meter_local_ms(now_ms) // DAY_MS
        self._demand_window: deque[int] = deque(maxlen=DEMAND_WINDOW)
        self.max_demand = [Demand() for _ in range(5)]  # total, then tariffs 1..4
        weights = (
            [1.0]
            if config.phases == 1
            else [1 + 0.08 * unit_noise(config.seed, 40 + i) for i in range(3)]
        )
        self._phase_weights = tuple(w / sum(weights) for w in weights)

    # --- time -------------------------------------------------------------------------------

    def _true_local_ms(self, t_ms: int) -> int:
        """``t_ms`` as local wall-clock milliseconds (local time written as if it were UTC)."""
        hour = t_ms // 3_600_000  # zones change offset on the hour (or the half hour: close)
        offset = self._offsets.get(hour)
        if offset is None:
            utc = datetime.fromtimestamp(hour * 3600, UTC).replace(tzinfo=None)
            delta = self._tz.utcoffset(utc)
            offset = self._offsets[hour] = int(delta.total_seconds() * 1000) if delta else 0
        return t_ms + offset

    def clock_offset_ms(self, now_ms: int) -> int:
        """Meter clock minus true time, in ms, with the drift since the clock was last set."""
        at, offset = self._clock_offset_at
        return offset + round((now_ms - at) * self.config.clock_drift_ppm / 1e6)

    def _meter_local_ms(self, t_ms: int) -> int:
        return self._true_local_ms(t_ms) + self.clock_offset_ms(t_ms)

    def meter_time(self, now_ms: int) -> datetime:
        """What the meter's clock shows (local time, naive)."""
        return LOCAL_EPOCH + timedelta(milliseconds=self._meter_local_ms(now_ms))

    def set_clock(self, now_ms: int, shown: datetime) -> None:
        """Set the meter clock so it shows ``shown`` (local, naive) at ``now_ms`` (校时)."""
        self.advance(now_ms)
        shown_ms = (shown - LOCAL_EPOCH) // timedelta(milliseconds=1)
        self._clock_offset_at = (now_ms, shown_ms - self._true_local_ms(now_ms))

    # --- load -------------------------------------------------------------------------------

    def load_w(self, minute: int) -> int:
        """The customer's demand during true minute ``minute`` (since the epoch), watts."""
        local = self._true_local_ms(minute * MINUTE_MS) // MINUTE_MS
        day, minute_of_day = divmod(local, MINUTES_PER_DAY)
        cached = self._days.get(day)
        if cached is None:
            cfg = self.config
            when = LOCAL_EPOCH + timedelta(days=day)
            scale = (
                cfg.peak_w
                * MONTH_FACTOR[when.month - 1]
                * (1 + 0.10 * unit_noise(cfg.seed, 1, day))
            )
            cached = self._days[day] = (SHAPES[(cfg.profile, when.weekday() >= 5)], scale)
        shape, scale = cached
        wiggle = (
            1
            + 0.25 * smooth_noise(self._seeds[0], local, 20)
            + 0.10 * unit_noise(self.config.seed, 3, local)
        )
        return max(0, round(scale * shape[minute_of_day] * wiggle))

    def power_factor(self, minute: int) -> int:
        pf = self.config.power_factor + 20 * smooth_noise(self._seeds[1], minute, 30)
        return max(800, min(995, round(pf)))

    def effective_w(self, minute: int) -> int:
        """What flows through the meter: nothing without supply or with the relay open."""
        if not self.powered or self.relay is not RelayState.CONNECTED:
            return 0
        return self.load_w(minute)

    # --- integration ------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        """Integrate energy up to ``now_ms``; freeze at the meter's midnights. Time never runs
        backwards for a meter: an earlier ``now_ms`` is ignored."""
        t = self.now_ms
        tou = self.config.tou
        while t < now_ms:
            minute = t // MINUTE_MS
            local = self._meter_local_ms(t)
            minute_of_day = (local % DAY_MS) / MINUTE_MS
            to_change = math.ceil(tou.next_change(minute_of_day) * MINUTE_MS - local % DAY_MS)
            end = min(now_ms, (minute + 1) * MINUTE_MS, t + max(1, to_change))
            tariff = tou.tariff_at(minute_of_day)
            power, reactive = self._flow(minute)
            self._import[tariff] += power * (end - t)
            self._reactive[tariff] += reactive * (end - t)
            t = end
            if t % MINUTE_MS == 0:
                self._close_demand_minute(power, tariff, t)
            self.now_ms = t
            if (local + end - minute * MINUTE_MS) // DAY_MS > self._last_freeze_day:
                self._maybe_freeze(t)
        self.now_ms = max(self.now_ms, now_ms)

    def _flow(self, minute: int) -> tuple[int, int]:
        cached_minute, power, reactive = self._minute_cache
        if cached_minute != minute:
            power = self.effective_w(minute)
            reactive = reactive_w(power, self.power_factor(minute))
            self._minute_cache = (minute, power, reactive)
        return power, reactive

    def _close_demand_minute(self, power: int, tariff: Tariff, t_ms: int) -> None:
        self._demand_window.append(power)
        if len(self._demand_window) < DEMAND_WINDOW:
            return
        demand = sum(self._demand_window) // DEMAND_WINDOW
        for index in (0, int(tariff)):
            if demand > self.max_demand[index].w:
                self.max_demand[index] = Demand(demand, self.meter_time(t_ms))

    def _maybe_freeze(self, t_ms: int) -> None:
        day = self._meter_local_ms(t_ms) // DAY_MS
        if day <= self._last_freeze_day:
            return
        self._last_freeze_day = day
        self.frozen.appendleft(
            DailyFreeze(
                at=LOCAL_EPOCH + timedelta(days=day),
                import_wh=self._wh_by_tariff(self._import),
                export_wh=(0, 0, 0, 0, 0),
            )
        )

    @staticmethod
    def _wh_by_tariff(wms: list[int]) -> tuple[int, int, int, int, int]:
        t1, t2, t3, t4 = (value // WMS_PER_WH for value in wms[1:])
        return (t1 + t2 + t3 + t4, t1, t2, t3, t4)

    # --- observation ------------------------------------------------------------------------

    def registers(self, now_ms: int) -> dict[Q, int]:
        """Cumulative registers in Wh / varh. The total is the sum of the tariffs, exactly."""
        self.advance(now_ms)
        imp = self._wh_by_tariff(self._import)
        react = self._wh_by_tariff(self._reactive)
        out: dict[Q, int] = {}
        names = ("", "_T1", "_T2", "_T3", "_T4")
        for i, suffix in enumerate(names):
            out[Q[f"ENERGY_IMPORT{suffix}"]] = imp[i]
            out[Q[f"ENERGY_EXPORT{suffix}"]] = 0
            out[Q[f"ENERGY_COMBINED{suffix}"]] = imp[i]
            out[Q[f"REACTIVE_ENERGY_IMPORT{suffix}"]] = react[i]
            out[Q[f"REACTIVE_ENERGY_EXPORT{suffix}"]] = 0
            out[Q[f"MAX_DEMAND_IMPORT{suffix}"]] = self.max_demand[i].w
        return out

    def instantaneous(self, now_ms: int) -> Instantaneous:
        self.advance(now_ms)
        minute = now_ms // MINUTE_MS
        cfg = self.config
        voltage_noise = [smooth_noise(mix(cfg.seed, 10 + i), minute, 30) for i in range(3)]
        return instantaneous(
            power_w=self.effective_w(minute),
            peak_w=cfg.peak_w,
            power_factor=self.power_factor(minute),
            weights=self._phase_weights,
            nominal_mv=cfg.nominal_voltage_mv if self.powered else 0,
            voltage_noise=voltage_noise,
            frequency_noise=smooth_noise(mix(cfg.seed, 7), minute, 5),
        )

    def readings(self, now_ms: int) -> dict[Q, int]:
        """Every contract quantity the meter measures, in contract units."""
        out = self.registers(now_ms)
        out.update(self.instantaneous(now_ms).quantities())
        out[Q.RELAY_STATE] = int(self.relay)
        return out

    def status_word_3(self) -> int:
        """运行状态字3 bits the codec reads: 4 relay open, 6 trip command, 7 alarm, 12 保电."""
        word = 0
        if self.relay is not RelayState.CONNECTED:
            word |= 0x0010
        if self.relay is RelayState.DISCONNECTED:
            word |= 0x0040
        if self.alarm:
            word |= 0x0080
        if self.keep_power:
            word |= 0x1000
        return word

    # --- relay (IC 70 transitions named in brackets) ----------------------------------------

    def _relay_record(self, now_ms: int, operator: str) -> RelayRecord:
        regs = self.registers(now_ms)
        return RelayRecord(
            at=self.meter_time(now_ms),
            operator=operator,
            import_wh=regs[Q.ENERGY_IMPORT],
            export_wh=regs[Q.ENERGY_EXPORT],
            reactive_wh=(regs[Q.REACTIVE_ENERGY_IMPORT], 0, 0, 0),
        )

    def remote_disconnect(self, now_ms: int, operator: str = "00000000") -> bool:
        """Trip (b from connected, c from ready). False if already disconnected."""
        self.advance(now_ms)
        if self.keep_power:
            raise RelayRefused("keep-power (保电) is in force")
        if self.relay is RelayState.DISCONNECTED:
            return False
        self.relay = RelayState.DISCONNECTED
        self._minute_cache = (-1, 0, 0)
        self.events.trips.appendleft(self._relay_record(now_ms, operator))
        self.events.trip_count += 1
        return True

    def remote_reconnect(self, now_ms: int, operator: str = "00000000", *, arm: bool) -> bool:
        """Direct close (a) or arm for the customer's button (d, 合闸允许). False if nothing
        changes (already connected; arming a relay that is already ready)."""
        self.advance(now_ms)
        if self.relay is RelayState.CONNECTED:
            return False
        if arm:
            if self.relay is RelayState.READY_FOR_RECONNECTION:
                return False
            self.relay = RelayState.READY_FOR_RECONNECTION
            self._minute_cache = (-1, 0, 0)
            return True
        self._close(now_ms, operator)
        return True

    def press_button(self, now_ms: int) -> bool:
        """The customer presses the meter's button (e): closes only from ready."""
        self.advance(now_ms)
        if self.relay is not RelayState.READY_FOR_RECONNECTION:
            return False
        self._close(now_ms, LOCAL_OPERATOR)
        return True

    def _close(self, now_ms: int, operator: str) -> None:
        self.relay = RelayState.CONNECTED
        self._minute_cache = (-1, 0, 0)
        self.events.closes.appendleft(self._relay_record(now_ms, operator))
        self.events.close_count += 1

    # --- supply -----------------------------------------------------------------------------

    def power_fail(self, now_ms: int) -> None:
        """The supply is lost (掉电): no load, no answers, an open power-failure record."""
        self.advance(now_ms)
        if not self.powered:
            return
        self.powered = False
        self._minute_cache = (-1, 0, 0)
        self.events.power_failures.appendleft(PowerFailureRecord(self.meter_time(now_ms)))
        self.events.power_failure_count += 1

    def power_restore(self, now_ms: int) -> None:
        self.advance(now_ms)
        if self.powered:
            return
        self.powered = True
        self._minute_cache = (-1, 0, 0)
        open_record = self.events.power_failures[0]
        self.events.power_failures[0] = replace(open_record, end=self.meter_time(now_ms))


__all__ = [
    "DailyFreeze",
    "Demand",
    "MeterConfig",
    "MeterModel",
    "PowerFailureRecord",
    "RelayRecord",
    "RelayRefused",
]
