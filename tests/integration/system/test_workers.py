"""``meterline serve`` with several worker processes on one port (METERLINE_HTTP_WORKERS)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from backend.server import worker_settings
from backend.settings import load_settings
from tests.support.serve_process import ServeProcess

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _workers(parent: int) -> list[int]:
    """The parent's spawned worker processes (not multiprocessing's resource tracker)."""
    with open(f"/proc/{parent}/task/{parent}/children") as fh:
        children = [int(p) for p in fh.read().split()]
    workers = []
    for pid in children:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"spawn_main" in fh.read():
                    workers.append(pid)
        except FileNotFoundError:
            continue
    return workers


def _until(condition, within_s: float = 240.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _leaders_seen(serve: ServeProcess, answers: set[object]) -> bool:
    answers.add((serve.health() or {}).get("leader"))
    return {True, False} <= answers


@sqlite_only
def test_serve_with_two_workers_answers_from_both_and_only_one_leads_on_sqlite(
    database_url: str, tmp_path: Path
) -> None:
    serve = ServeProcess(
        tmp_path, database_url=database_url, http_workers="2", ingest="false",
        command_dispatch="false", jwt_secret="x" * 40,
    )  # fmt: skip
    try:
        serve.wait_health("status", "ok", within_s=240)  # two interpreters import the app
        _until(lambda: len(_workers(serve.proc.pid)) == 2)
        answers: set[object] = set()  # each answer comes from one worker or the other
        _until(lambda: _leaders_seen(serve, answers))
        assert answers == {True, False}  # exactly one worker leads: never two leaders
        # a worker that dies is replaced, and the installation still has one leader
        victim = _workers(serve.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _until(lambda: victim not in (now := _workers(serve.proc.pid)) and len(now) == 2)
        answers = set()
        _until(lambda: _leaders_seen(serve, answers))
        assert answers == {True, False}
    finally:
        serve.stop()


def test_a_follower_worker_neither_ingests_nor_dispatches_and_leads_only_on_postgresql() -> None:
    base = load_settings(env={}, ingest=True, command_dispatch=True)
    first, first_leads = worker_settings(base, first=True)
    assert (first.ingest, first.runs_command_dispatch, first_leads) == (True, True, True)
    other, other_leads = worker_settings(base, first=False)
    assert (other.ingest, other.runs_command_dispatch, other_leads) == (False, False, False)
    pg = load_settings(env={}, database_url="postgresql+asyncpg://u:p@h/db")
    pg_other, pg_leads = worker_settings(pg, first=False)
    assert (pg_other.ingest, pg_leads) == (False, True)  # the advisory lock decides there
