"""Start real Mosquitto and PostgreSQL servers on free loopback ports for the test run.

When a component is missing the tests are skipped on a developer's machine with the exact
install command, and fail under CI (``CI=true``), where nothing may be skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACL_FILE = ROOT / "deploy" / "mosquitto" / "acl"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(component: str, install: str) -> None:
    message = f"{component} is not installed: {install}"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing component is a failure)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def which(name: str, *extra: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra:
        p = Path(d) / name
        if p.exists():
            return str(p)
    return None


@dataclass
class Mosquitto:
    host: str
    port: int
    users: dict[str, str]  # username → password
    process: subprocess.Popen[bytes]
    directory: Path

    BACKEND = "meterline-backend"

    def url(self, user: str | None = None) -> str:
        if user is None:
            return f"mqtt://{self.host}:{self.port}"
        return f"mqtt://{user}:{self.users[user]}@{self.host}:{self.port}"


def start_mosquitto(agent_ids: list[str]) -> Mosquitto:
    binary = which("mosquitto", "/usr/sbin")
    passwd_tool = which("mosquitto_passwd")
    if not binary or not passwd_tool:
        missing("mosquitto", "apt-get install mosquitto mosquitto-clients")
    assert binary
    assert passwd_tool
    d = Path(tempfile.mkdtemp(prefix="meterline-mosquitto-"))
    users = {Mosquitto.BACKEND: "backend-test-pw", **{a: f"{a}-pw" for a in agent_ids}}
    passwd = d / "passwd"
    passwd.touch()
    for user, pw in users.items():
        subprocess.run([passwd_tool, "-b", str(passwd), user, pw], check=True)
    shutil.copy(ACL_FILE, d / "acl")
    port = free_port()
    conf = d / "mosquitto.conf"
    conf.write_text(
        f"per_listener_settings false\nallow_anonymous false\n"
        f"password_file {passwd}\nacl_file {d / 'acl'}\n"
        f"listener {port} 127.0.0.1\npersistence false\n"
        "max_inflight_messages 100\nmax_queued_messages 1000000\n"
    )
    os.chmod(d, 0o755)
    for f in d.iterdir():
        os.chmod(f, 0o644)
    log = open(d / "mosquitto.log", "wb")  # noqa: SIM115 - kept open for the process's life
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port)
    return Mosquitto("127.0.0.1", port, users, proc, d)


@dataclass
class Postgres:
    port: int
    user: str
    directory: Path
    ctl: str
    run_as: list[str] = field(default_factory=list)
    counter: int = 0

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        result = subprocess.run(
            [
                self.ctl.replace("pg_ctl", "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                sql,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"psql {sql!r} failed: {result.stderr.strip()}")

    def restart(self) -> None:
        """Fast restart: every session is cut mid-transaction (rolled back), then the server
        comes back on the same port with the same options."""
        subprocess.run(
            [*self.run_as, self.ctl, "-D", str(self.directory / "data"), "-l",
             str(self.directory / "log"), "-m", "fast", "-w", "restart"],
            check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # the new server must not hold a pipe of ours
        )  # fmt: skip

    def stop(self, *, remove: bool = True) -> None:
        """Stop the server and, unless told otherwise, remove its directory."""
        subprocess.run(
            [
                *self.run_as,
                self.ctl,
                "-D",
                str(self.directory / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        if remove:  # a benchmark's cluster is gigabytes: runs after runs would fill the disk
            shutil.rmtree(self.directory, ignore_errors=True)


def _pg_bin() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return str(Path(found).resolve())  # Debian links it from /usr/local/bin
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "pg_ctl").exists():
            return str(base / "pg_ctl")
    return None


def start_replica(primary: Postgres) -> Postgres:
    """A hot standby of ``primary`` streaming its WAL (``pg_basebackup -R``), on its own port."""
    d = Path(tempfile.mkdtemp(prefix="meterline-pg-replica-"))
    if primary.run_as:
        pw = pwd.getpwnam("postgres")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    subprocess.run(
        [*primary.run_as, primary.ctl.replace("pg_ctl", "pg_basebackup"), "-h", "127.0.0.1",
         "-p", str(primary.port), "-U", primary.user, "-D", str(d / "data"), "-R",
         "-X", "stream", "--no-sync", "--checkpoint=fast"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    opts = (
        f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c hot_standby=on "
        "-c max_connections=1000 -c shared_buffers=64MB"  # as the primary's, or it refuses
    )
    subprocess.run(
        [*primary.run_as, primary.ctl, "-D", str(d / "data"), "-o", opts, "-l", str(d / "log"),
         "-w", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    return Postgres(port, primary.user, d, primary.ctl, primary.run_as)


# What production's PostgreSQL runs with beyond its defaults: ``docker-compose.yml``'s
# ``postgres`` command (tests/integration/test_services.py keeps the two equal). A meter
# stream writes WAL fast: on the default ``max_wal_size`` (1 GB) a 23,000-readings/s stream
# started a checkpoint every 18 s, and after each one the first change to every page writes
# the whole page to the WAL again (full page writes, which durability needs). Checkpoints on
# their timer (5 min) instead, those pages compressed, and a cache for the indexes being
# appended to. Durability is untouched: fsync, synchronous commit and full page writes stay on.
PRODUCTION_POSTGRES: Final = ("shared_buffers=512MB", "max_wal_size=8GB", "wal_compression=lz4")


def start_postgres(*, durable: bool = False) -> Postgres:
    """A throwaway cluster. The tests' runs without ``fsync``, ``synchronous_commit`` and full
    page writes (their data is thrown away, and nothing they check waits for the disk); a
    ``durable`` one runs as production does (PostgreSQL's defaults and
    ``PRODUCTION_POSTGRES``): a benchmark of commits must pay for them. (Set on the command
    line, the three could not be turned back on by ``ALTER SYSTEM``: the command line outranks
    the configuration files.)"""
    ctl = _pg_bin()
    if not ctl:
        missing("PostgreSQL", "apt-get install postgresql")
    assert ctl
    initdb = ctl.replace("pg_ctl", "initdb")
    d = Path(tempfile.mkdtemp(prefix="meterline-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            missing("a 'postgres' system user", "apt-get install postgresql")
            raise
        os.chown(d, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *run_as,
            initdb,
            "-D",
            str(d / "data"),
            "-U",
            "meterline",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    settings = (
        PRODUCTION_POSTGRES
        if durable
        else ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "shared_buffers=64MB")
    )
    opts = f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=1000 " + " ".join(
        f"-c {s}" for s in settings
    )
    subprocess.run(
        [*run_as, ctl, "-D", str(d / "data"), "-o", opts, "-l", str(d / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    return Postgres(port, "meterline", d, ctl, run_as)
