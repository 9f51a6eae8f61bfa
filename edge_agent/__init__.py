"""meterline edge agent: the only part that talks to meters (Modbus, DL/T 645)."""

__version__ = "0.1.0"
