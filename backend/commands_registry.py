"""Sub-commands contributed by capabilities. Each registrar receives the argparse sub-parsers
object and adds its own command with ``set_defaults(func=...)`` returning an exit code."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRARS: list[Registrar] = []
