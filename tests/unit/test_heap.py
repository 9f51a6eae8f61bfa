"""The long-running processes settle the garbage collector once they are built: the backend's
(``backend.heap``) and the agent (``edge_agent.heap``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend import demo, heap, server
from backend.cli import main
from backend.metering.ingest import command
from edge_agent import agent
from edge_agent import heap as agent_heap
from edge_agent.cli import main as agent_main
from tests.support.agent import MINIMAL_TOML

SETTLED = """
import gc, json, weakref
from {package} import heap
before = gc.get_threshold()
heap.settle()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after settling: still garbage, still collected
gone = weakref.ref(a)
del a, b
gc.collect()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "cycle_freed": gone() is None}))
"""


@pytest.mark.parametrize("module", [heap, agent_heap], ids=["backend", "agent"])
def test_settling_freezes_what_start_up_left_and_collects_young_objects_less_often(
    module: Any,
) -> None:
    package = module.__name__.split(".")[0]
    out = subprocess.run(
        [sys.executable, "-c", SETTLED.replace("{package}", package)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = json.loads(out)
    assert found["after"] == [module.GEN0, module.GEN1, module.GEN2] != found["before"]
    assert found["frozen"] > 1_000  # the modules' objects: out of every collection's way
    assert found["cycle_freed"] is True


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    said: list[str] = []
    monkeypatch.setattr(heap, "settle", lambda: said.append("settle"))
    return said


async def test_serve_settles_the_heap_once_the_application_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = _recording(monkeypatch)

    class Server:
        async def serve(self) -> None:
            said.append("serve")

    def make(settings: Any) -> Server:
        said.append("build")
        return Server()

    monkeypatch.setattr(server, "make_server", make)
    await server.serve(object())  # type: ignore[arg-type]
    assert said == ["build", "settle", "serve"]


@pytest.mark.parametrize(("name", "module", "runner"), [
    ("ingest", command, "run_ingest"),
    ("demo", demo, "run_demo"),
])  # fmt: skip
def test_ingest_and_the_demo_settle_the_heap_before_they_run(
    name: str, module: Any, runner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = _recording(monkeypatch)

    async def run(settings: Any, *args: Any, **kwargs: Any) -> int:
        said.append("run")
        return 0

    monkeypatch.setattr(module, runner, run)
    assert main([name, "--data-dir", str(tmp_path)]) == 0
    assert said == ["settle", "run"]


def test_the_agent_settles_the_heap_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(MINIMAL_TOML.replace("/tmp/x", str(tmp_path)))
    said: list[str] = []
    monkeypatch.setattr(agent_heap, "settle", lambda: said.append("settle"))

    async def run(config: Any) -> None:
        said.append("run")

    monkeypatch.setattr(agent, "run_agent", run)
    assert agent_main(["run", "--config", str(config)]) == 0
    assert said == ["settle", "run"]
