"""Quantity codes and their integer units.

Every value on the wire is an integer in the unit its quantity states, so that no float ever
crosses the contract: energy in Wh (a DL/T 645 ``XXXXXX.XX kWh`` register is 10 Wh steps),
voltage in mV, current in mA, power in W / var / VA, power factor in thousandths, frequency in
mHz. A new quantity is added at the end of the enum; a code is never renamed or reused.
"""

from __future__ import annotations

import enum

import msgspec


class Unit(enum.StrEnum):
    WH = "Wh"
    VARH = "varh"
    MV = "mV"
    MA = "mA"
    W = "W"
    VAR = "var"
    VA = "VA"
    PERMILLE = "0.001"  # power factor × 1000
    MHZ = "mHz"
    STATE = "state"  # an enumerated value, see RelayState


class Quantity(enum.StrEnum):
    # 有功电能 active energy, cumulative registers
    ENERGY_IMPORT = "energy_import"  # 正向有功总
    ENERGY_IMPORT_T1 = "energy_import_t1"  # 尖
    ENERGY_IMPORT_T2 = "energy_import_t2"  # 峰
    ENERGY_IMPORT_T3 = "energy_import_t3"  # 平
    ENERGY_IMPORT_T4 = "energy_import_t4"  # 谷
    ENERGY_EXPORT = "energy_export"  # 反向有功总
    ENERGY_EXPORT_T1 = "energy_export_t1"
    ENERGY_EXPORT_T2 = "energy_export_t2"
    ENERGY_EXPORT_T3 = "energy_export_t3"
    ENERGY_EXPORT_T4 = "energy_export_t4"
    ENERGY_COMBINED = "energy_combined"  # 组合有功总
    # 无功电能 reactive energy
    REACTIVE_ENERGY_IMPORT = "reactive_energy_import"  # 组合无功1
    REACTIVE_ENERGY_EXPORT = "reactive_energy_export"  # 组合无功2
    # 最大需量 maximum demand
    MAX_DEMAND_IMPORT = "max_demand_import"
    # instantaneous values 瞬时量
    VOLTAGE_A = "voltage_a"
    VOLTAGE_B = "voltage_b"
    VOLTAGE_C = "voltage_c"
    CURRENT_A = "current_a"
    CURRENT_B = "current_b"
    CURRENT_C = "current_c"
    CURRENT_N = "current_n"
    ACTIVE_POWER = "active_power"
    ACTIVE_POWER_A = "active_power_a"
    ACTIVE_POWER_B = "active_power_b"
    ACTIVE_POWER_C = "active_power_c"
    REACTIVE_POWER = "reactive_power"
    REACTIVE_POWER_A = "reactive_power_a"
    REACTIVE_POWER_B = "reactive_power_b"
    REACTIVE_POWER_C = "reactive_power_c"
    APPARENT_POWER = "apparent_power"
    APPARENT_POWER_A = "apparent_power_a"
    APPARENT_POWER_B = "apparent_power_b"
    APPARENT_POWER_C = "apparent_power_c"
    POWER_FACTOR = "power_factor"
    POWER_FACTOR_A = "power_factor_a"
    POWER_FACTOR_B = "power_factor_b"
    POWER_FACTOR_C = "power_factor_c"
    FREQUENCY = "frequency"
    RELAY_STATE = "relay_state"  # 继电器状态, value is a RelayState code
    # added for DL/T 645 tariff registers (费率), appended so existing codes keep their place
    ENERGY_COMBINED_T1 = "energy_combined_t1"
    ENERGY_COMBINED_T2 = "energy_combined_t2"
    ENERGY_COMBINED_T3 = "energy_combined_t3"
    ENERGY_COMBINED_T4 = "energy_combined_t4"
    REACTIVE_ENERGY_IMPORT_T1 = "reactive_energy_import_t1"
    REACTIVE_ENERGY_IMPORT_T2 = "reactive_energy_import_t2"
    REACTIVE_ENERGY_IMPORT_T3 = "reactive_energy_import_t3"
    REACTIVE_ENERGY_IMPORT_T4 = "reactive_energy_import_t4"
    REACTIVE_ENERGY_EXPORT_T1 = "reactive_energy_export_t1"
    REACTIVE_ENERGY_EXPORT_T2 = "reactive_energy_export_t2"
    REACTIVE_ENERGY_EXPORT_T3 = "reactive_energy_export_t3"
    REACTIVE_ENERGY_EXPORT_T4 = "reactive_energy_export_t4"
    MAX_DEMAND_IMPORT_T1 = "max_demand_import_t1"
    MAX_DEMAND_IMPORT_T2 = "max_demand_import_t2"
    MAX_DEMAND_IMPORT_T3 = "max_demand_import_t3"
    MAX_DEMAND_IMPORT_T4 = "max_demand_import_t4"


class QuantitySpec(msgspec.Struct, frozen=True):
    quantity: Quantity
    unit: Unit
    cumulative: bool  # True for registers that only rise (energy); consumption is their delta
    description: str


def _spec(q: Quantity, unit: Unit, description: str, *, cumulative: bool = False) -> QuantitySpec:
    return QuantitySpec(quantity=q, unit=unit, cumulative=cumulative, description=description)


_ENERGY = [
    (Quantity.ENERGY_IMPORT, "import active energy, total"),
    (Quantity.ENERGY_IMPORT_T1, "import active energy, tariff 1 (sharp 尖)"),
    (Quantity.ENERGY_IMPORT_T2, "import active energy, tariff 2 (peak 峰)"),
    (Quantity.ENERGY_IMPORT_T3, "import active energy, tariff 3 (flat 平)"),
    (Quantity.ENERGY_IMPORT_T4, "import active energy, tariff 4 (valley 谷)"),
    (Quantity.ENERGY_EXPORT, "export active energy, total"),
    (Quantity.ENERGY_EXPORT_T1, "export active energy, tariff 1"),
    (Quantity.ENERGY_EXPORT_T2, "export active energy, tariff 2"),
    (Quantity.ENERGY_EXPORT_T3, "export active energy, tariff 3"),
    (Quantity.ENERGY_EXPORT_T4, "export active energy, tariff 4"),
    (Quantity.ENERGY_COMBINED, "combined active energy, total"),
]

QUANTITIES: dict[Quantity, QuantitySpec] = {
    **{q: _spec(q, Unit.WH, d, cumulative=True) for q, d in _ENERGY},
    Quantity.REACTIVE_ENERGY_IMPORT: _spec(
        Quantity.REACTIVE_ENERGY_IMPORT, Unit.VARH, "combined reactive energy 1", cumulative=True
    ),
    Quantity.REACTIVE_ENERGY_EXPORT: _spec(
        Quantity.REACTIVE_ENERGY_EXPORT, Unit.VARH, "combined reactive energy 2", cumulative=True
    ),
    Quantity.MAX_DEMAND_IMPORT: _spec(
        Quantity.MAX_DEMAND_IMPORT, Unit.W, "maximum import active demand"
    ),
    **{
        q: _spec(q, Unit.MV, f"phase {q.value[-1].upper()} voltage")
        for q in (Quantity.VOLTAGE_A, Quantity.VOLTAGE_B, Quantity.VOLTAGE_C)
    },
    **{
        q: _spec(q, Unit.MA, f"{q.value[-1].upper()} current")
        for q in (Quantity.CURRENT_A, Quantity.CURRENT_B, Quantity.CURRENT_C, Quantity.CURRENT_N)
    },
    Quantity.ACTIVE_POWER: _spec(Quantity.ACTIVE_POWER, Unit.W, "total active power"),
    **{
        q: _spec(q, Unit.W, f"phase {q.value[-1].upper()} active power")
        for q in (Quantity.ACTIVE_POWER_A, Quantity.ACTIVE_POWER_B, Quantity.ACTIVE_POWER_C)
    },
    Quantity.REACTIVE_POWER: _spec(Quantity.REACTIVE_POWER, Unit.VAR, "total reactive power"),
    **{
        q: _spec(q, Unit.VAR, f"phase {q.value[-1].upper()} reactive power")
        for q in (Quantity.REACTIVE_POWER_A, Quantity.REACTIVE_POWER_B, Quantity.REACTIVE_POWER_C)
    },
    Quantity.APPARENT_POWER: _spec(Quantity.APPARENT_POWER, Unit.VA, "total apparent power"),
    **{
        q: _spec(q, Unit.VA, f"phase {q.value[-1].upper()} apparent power")
        for q in (Quantity.APPARENT_POWER_A, Quantity.APPARENT_POWER_B, Quantity.APPARENT_POWER_C)
    },
    Quantity.POWER_FACTOR: _spec(Quantity.POWER_FACTOR, Unit.PERMILLE, "total power factor"),
    **{
        q: _spec(q, Unit.PERMILLE, f"phase {q.value[-1].upper()} power factor")
        for q in (Quantity.POWER_FACTOR_A, Quantity.POWER_FACTOR_B, Quantity.POWER_FACTOR_C)
    },
    Quantity.FREQUENCY: _spec(Quantity.FREQUENCY, Unit.MHZ, "grid frequency"),
    Quantity.RELAY_STATE: _spec(Quantity.RELAY_STATE, Unit.STATE, "relay state (RelayState code)"),
    **{
        q: _spec(q, Unit.WH, f"combined active energy, tariff {q.value[-1]}", cumulative=True)
        for q in (
            Quantity.ENERGY_COMBINED_T1,
            Quantity.ENERGY_COMBINED_T2,
            Quantity.ENERGY_COMBINED_T3,
            Quantity.ENERGY_COMBINED_T4,
        )
    },
    **{
        q: _spec(q, Unit.VARH, f"combined reactive energy 1, tariff {q.value[-1]}", cumulative=True)
        for q in (
            Quantity.REACTIVE_ENERGY_IMPORT_T1,
            Quantity.REACTIVE_ENERGY_IMPORT_T2,
            Quantity.REACTIVE_ENERGY_IMPORT_T3,
            Quantity.REACTIVE_ENERGY_IMPORT_T4,
        )
    },
    **{
        q: _spec(q, Unit.VARH, f"combined reactive energy 2, tariff {q.value[-1]}", cumulative=True)
        for q in (
            Quantity.REACTIVE_ENERGY_EXPORT_T1,
            Quantity.REACTIVE_ENERGY_EXPORT_T2,
            Quantity.REACTIVE_ENERGY_EXPORT_T3,
            Quantity.REACTIVE_ENERGY_EXPORT_T4,
        )
    },
    **{
        q: _spec(q, Unit.W, f"maximum import active demand, tariff {q.value[-1]}")
        for q in (
            Quantity.MAX_DEMAND_IMPORT_T1,
            Quantity.MAX_DEMAND_IMPORT_T2,
            Quantity.MAX_DEMAND_IMPORT_T3,
            Quantity.MAX_DEMAND_IMPORT_T4,
        )
    },
}

ENERGY_QUANTITIES: frozenset[Quantity] = frozenset(q for q, s in QUANTITIES.items() if s.cumulative)
