"""Run the API under uvicorn: in an existing event loop (serve and demo share it), or as
several worker processes sharing one listening socket (``METERLINE_HTTP_WORKERS``).

With several workers the parent binds the port once and starts the workers (spawned, each
with its own event loop, engine and caches), starts one again when it exits, and passes
SIGTERM/SIGINT on to them.
Work that must run once per installation stays single: on PostgreSQL the workers compete for
the leader lock (``backend/system/leader.py``) as separate processes always did; on SQLite,
where the embedded process is always the leader, only the first worker leads. Either way only
the first worker ingests and dispatches commands (one MQTT session); the others answer HTTP.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import threading

import msgspec
import uvicorn
from litestar import Litestar

from backend import heap
from backend.app import create_app
from backend.db import is_sqlite
from backend.settings import Settings

log = logging.getLogger("meterline")


def _config(settings: Settings, app: object, **extra: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.http_trusted_proxies,  # X-Forwarded-* from these only
        **extra,  # type: ignore[arg-type]
    )


def make_server(settings: Settings) -> uvicorn.Server:
    return uvicorn.Server(_config(settings, create_app(settings)))


def worker_settings(settings: Settings, first: bool) -> tuple[Settings, bool]:
    """The settings of a worker and whether it may lead. The first worker ingests and
    dispatches commands (one MQTT session per installation's client id); on SQLite it alone
    leads, on PostgreSQL every worker competes for the leader lock."""
    if first:
        return settings, True
    follower = msgspec.structs.replace(settings, ingest=False, command_dispatch=False)
    return follower, not is_sqlite(settings.database_url)


class WorkerApp:
    """The app factory uvicorn calls in each spawned worker (picklable: the settings only).
    The first worker is whoever holds the lock file ``data_dir/worker.lock`` (an ``flock``
    that the kernel frees when its process dies, so a restarted worker takes over)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self) -> Litestar:
        self.settings.data_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.settings.data_path / "worker.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            first = True  # the descriptor stays open (and locked) for the process's life
        except BlockingIOError:
            os.close(fd)
            first = False
        settings, eligible = worker_settings(self.settings, first)
        app = create_app(settings)
        app.state.leader_eligible = eligible
        app.state.first_worker = first
        return app


def _run_worker(settings: Settings, sock: socket.socket) -> None:
    config = _config(settings, WorkerApp(settings), factory=True)
    heap.settle()
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(settings: Settings, poll_s: float = 0.5) -> None:
    """Bind the port once and run ``settings.http_workers`` worker processes until SIGTERM or
    SIGINT; a worker that exits is started again (its number of restarts is logged)."""
    settings.ensure_secret()  # made once here: every worker signs and checks with the same
    sock = _config(settings, None).bind_socket()
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def start() -> multiprocessing.process.BaseProcess:
        process = ctx.Process(target=_run_worker, args=(settings, sock), daemon=False)
        process.start()
        return process

    workers = [start() for _ in range(settings.http_workers)]
    log.info("serving on %s:%d with %d workers", settings.http_host, settings.http_port,
             len(workers))  # fmt: skip
    while not stop.wait(poll_s):
        for i, process in enumerate(workers):
            if not process.is_alive():
                log.warning("worker %s exited (%s); starting another", process.pid,
                            process.exitcode)  # fmt: skip
                workers[i] = start()
    for process in workers:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)  # uvicorn shuts down gracefully on it
    for process in workers:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
    sock.close()


async def serve(settings: Settings) -> None:
    server = make_server(settings)
    heap.settle()  # the application is built: what is left runs until it is stopped
    await server.serve()
