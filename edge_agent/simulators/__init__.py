"""Simulated electricity meters for the demo and the tests: a deterministic load and register
model, DL/T 645-2007 and Modbus (TCP / RTU) servers over TCP, ptys and serial ports, byte
timing at the baud rate, and injectable faults. See docs/simulators.md.
"""

from edge_agent.simulators.bus import BusServer, Endpoint, SimMeter
from edge_agent.simulators.clock import Clock, ManualClock, ScaledClock, system_clock
from edge_agent.simulators.dlt645_server import Dlt645Server, dlt645_timing
from edge_agent.simulators.faults import Fault, FaultKind, parse_fault
from edge_agent.simulators.fleet import BusSpec, Fleet, FleetSpec, run_simulators, start_simulators
from edge_agent.simulators.loadshape import DEFAULT_TOU, Profile, Tariff, TouSchedule
from edge_agent.simulators.meter import MeterConfig, MeterModel
from edge_agent.simulators.modbus_server import ModbusServer, modbus_timing
from edge_agent.simulators.wire import Line, Timing

__all__ = [
    "DEFAULT_TOU",
    "BusServer",
    "BusSpec",
    "Clock",
    "Dlt645Server",
    "Endpoint",
    "Fault",
    "FaultKind",
    "Fleet",
    "FleetSpec",
    "Line",
    "ManualClock",
    "MeterConfig",
    "MeterModel",
    "ModbusServer",
    "Profile",
    "ScaledClock",
    "SimMeter",
    "Tariff",
    "Timing",
    "TouSchedule",
    "dlt645_timing",
    "modbus_timing",
    "parse_fault",
    "run_simulators",
    "start_simulators",
    "system_clock",
]
