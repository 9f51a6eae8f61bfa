"""Source units a register map may name, and their exact factor to the contract's unit.

A map says which unit the meter reports in (after its own scale), and this table says how to
reach the contract's integer unit. Keeping the factor here rather than in each map means a map
cannot silently multiply volts by 100 instead of 1000, and the loader can reject a unit that
does not fit the quantity (volts for an energy register) with a clear message.
"""

from __future__ import annotations

from fractions import Fraction

from protocols.contract.quantities import Unit

SOURCE_UNITS: dict[str, tuple[Unit, Fraction]] = {
    # energy
    "Wh": (Unit.WH, Fraction(1)),
    "kWh": (Unit.WH, Fraction(1000)),
    "MWh": (Unit.WH, Fraction(1_000_000)),
    "varh": (Unit.VARH, Fraction(1)),
    "kvarh": (Unit.VARH, Fraction(1000)),
    "Mvarh": (Unit.VARH, Fraction(1_000_000)),
    # voltage, current
    "mV": (Unit.MV, Fraction(1)),
    "V": (Unit.MV, Fraction(1000)),
    "kV": (Unit.MV, Fraction(1_000_000)),
    "mA": (Unit.MA, Fraction(1)),
    "A": (Unit.MA, Fraction(1000)),
    "kA": (Unit.MA, Fraction(1_000_000)),
    # power
    "W": (Unit.W, Fraction(1)),
    "kW": (Unit.W, Fraction(1000)),
    "MW": (Unit.W, Fraction(1_000_000)),
    "var": (Unit.VAR, Fraction(1)),
    "kvar": (Unit.VAR, Fraction(1000)),
    "Mvar": (Unit.VAR, Fraction(1_000_000)),
    "VA": (Unit.VA, Fraction(1)),
    "kVA": (Unit.VA, Fraction(1000)),
    "MVA": (Unit.VA, Fraction(1_000_000)),
    # power factor: a plain ratio (cos φ, -1..1), per cent (SunSpec "Pct") or thousandths
    "1": (Unit.PERMILLE, Fraction(1000)),
    "%": (Unit.PERMILLE, Fraction(10)),
    "0.001": (Unit.PERMILLE, Fraction(1)),
    # frequency
    "Hz": (Unit.MHZ, Fraction(1000)),
    "mHz": (Unit.MHZ, Fraction(1)),
}

# Spellings seen in vendor tables, accepted so a map can be copied from the datasheet.
ALIASES: dict[str, str] = {
    "VAr": "var",
    "kVAr": "kvar",
    "kVAR": "kvar",
    "VArh": "varh",
    "kVArh": "kvarh",
    "kVARh": "kvarh",
    "Pct": "%",
}


def conversion(source_unit: str) -> tuple[Unit, Fraction] | None:
    """(contract unit, exact factor) for a source unit name, or None if unknown."""
    return SOURCE_UNITS.get(ALIASES.get(source_unit, source_unit))
