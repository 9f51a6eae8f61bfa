"""The main API calls against a seeded utility, each as a ratio to ``GET /health``.

A utility of ``--accounts`` customers is seeded (``meterline seed``, deterministic), one API
process is started on it (``meterline serve``, ingestion and the prepaid sweep off, so only the
calls are measured), and each call is driven by ``wrk`` for ``--duration`` seconds with
``--connections`` connections. Reported per call: requests/s, p50 and p99 latency, non-2xx
answers, and requests/s as a ratio to ``GET /health`` on the same server in the same run (the
baseline: the framework's floor on this machine). A call whose first request takes more than a
fifth of the window is timed by four requests in a row instead (p50 is their median, p99 their
maximum, one connection). Calls are those of issue 21 item 4: the
customer's balance, ledger and usage; the inspector's book and nearby; the operator's disconnect
queue, arrears, commands, offline meters, collection rate by grid and by transformer area, and
customer search, and the 95598 intake's search by phone, name and address. First of all, on
the fresh server, ``--inspectors`` inspectors fetch their own books all at once (a morning
sync: no book built yet), then all ask again whether theirs changed (304); their rows report
books/s (the wave's books over its wall time) and the p50/p99 of the wave's requests.

Run: ``scripts/bench api --accounts 20000`` (SQLite and PostgreSQL), or against a database
seeded beforehand: ``.venv/bin/python bench/api.py --database-url URL --password PW``.
Needs ``wrk``, which ``scripts/bench api`` installs (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from backend.broker import free_port  # noqa: E402
from backend.db import create_engine  # noqa: E402

FIRST_TIMEOUT_S = 600
PASSWORD = "bench-only-password"  # a throwaway database's seeded users
LUA = """
wrk.headers["Authorization"] = "Bearer %s"
%s
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"status\\":%%d,"
    .. "\\"other\\":%%d,\\"p50\\":%%d,\\"p99\\":%%d}\\n", summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Call:
    name: str
    role: str  # customer, inspector, operator, or "" (no login)
    path: str
    if_none_match: bool = False  # sent with the ETag of a first answer: "changed?" (304)


@dataclass
class Result:
    call: Call
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx answers and socket errors


def who(url: str, prefix: str) -> dict[str, object]:
    """The seeded users and objects the calls use: a customer with a year of history."""
    return asyncio.run(_who(url, prefix.lower()))


async def _who(url: str, p: str) -> dict[str, object]:
    eng = create_engine(url)
    try:
        async with eng.connect() as c:
            customer, customer_id = (
                await c.execute(
                    text(
                        "SELECT username, customer_id FROM users WHERE username LIKE :u"
                        " AND role = 'customer' ORDER BY id LIMIT 1"
                    ),
                    {"u": f"{p}-customer-%"},
                )
            ).one()
            account_id = (
                await c.execute(
                    text("SELECT id FROM accounts WHERE customer_id = :c ORDER BY id LIMIT 1"),
                    {"c": customer_id},
                )
            ).scalar_one()
            lat, lon = (
                await c.execute(
                    text(
                        "SELECT c.latitude, c.longitude FROM customers c"
                        " JOIN grids g ON g.id = c.grid_id JOIN users u ON u.id = g.inspector_id"
                        " WHERE u.username = :u ORDER BY c.id LIMIT 1 OFFSET 40"
                    ),
                    {"u": f"{p}-inspector-1"},
                )
            ).one()
            last_day = (await c.execute(text("SELECT max(day) FROM consumption_daily"))).scalar()
            inspectors = list(  # each with a book of their own grid
                await c.scalars(
                    text(
                        "SELECT username FROM users WHERE role = 'inspector'"
                        " AND username LIKE :u ORDER BY id"
                    ),
                    {"u": f"{p}-inspector-%"},
                )
            )
            caller_phone = (  # a caller the 95598 intake looks up by the number calling
                await c.execute(
                    text("SELECT phone FROM customers ORDER BY id LIMIT 1 OFFSET 77"),
                )
            ).scalar_one()
    finally:
        await eng.dispose()
    last = last_day if isinstance(last_day, date) else date.fromisoformat(str(last_day))
    return {
        "account": account_id, "lat": lat, "lon": lon, "last": last, "customer": customer,
        "phone": caller_phone, "inspectors": inspectors,
    }  # fmt: skip


def calls(w: dict[str, object]) -> list[Call]:
    a, last = w["account"], w["last"]
    assert isinstance(last, date)
    month_ago, year_ago = last - timedelta(days=29), last.replace(day=1) - timedelta(days=334)
    rate = f"from={month_ago}&to={last}"
    return [
        Call("health", "", "/health"),
        Call("customer: balance", "customer", f"/api/accounts/{a}/balance"),
        Call("customer: ledger", "customer", f"/api/accounts/{a}/ledger"),
        Call("customer: usage 30 days", "customer",
             f"/api/accounts/{a}/consumption/daily?from={month_ago}&to={last}"),
        Call("customer: usage 12 months", "customer",
             f"/api/accounts/{a}/consumption/monthly?from={year_ago:%Y-%m}&to={last:%Y-%m}"),
        Call("inspector: book", "inspector", "/api/field/books/current"),
        Call("inspector: book unchanged (304)", "inspector", "/api/field/books/current", True),
        Call("inspector: nearby", "inspector", f"/api/field/nearby?lat={w['lat']}&lon={w['lon']}"),
        Call("operator: disconnect queue", "operator", "/api/prepaid/disconnect-queue"),
        Call("operator: arrears", "operator", "/api/prepaid/arrears"),
        Call("operator: commands", "operator", "/api/commands/"),
        Call("operator: offline meters", "operator", "/api/meters/offline"),
        Call("operator: collection rate by grid", "operator",
             f"/api/collection-rate?{rate}&group=grid"),
        Call("operator: collection rate by area", "operator",
             f"/api/collection-rate?{rate}&group=transformer_area"),
        Call("operator: customer search", "operator", "/api/customers/?q=%E7%8E%8B%E4%BC%9F"),
        Call("operator: intake search by phone", "operator",
             f"/api/servicedesk/customers?q={w['phone']}"),
        Call("operator: intake search by name", "operator",
             "/api/servicedesk/customers?q=%E7%8E%8B%E4%BC%9F"),
        Call("operator: intake search by address", "operator",
             "/api/servicedesk/customers?by=address&q=%E6%96%87%E4%B8%89%E8%B7%AF1001"),
    ]  # fmt: skip


def seed(url: str, data_dir: Path, accounts: int, history: int | None) -> float:
    env = {**os.environ, "METERLINE_DATABASE_URL": url, "METERLINE_DATA_DIR": str(data_dir)}
    meterline = [str(ROOT / ".venv/bin/meterline"), "--log-level", "WARNING"]
    subprocess.run([*meterline, "migrate"], env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    args = [*meterline, "seed", "--accounts", str(accounts), "--password", PASSWORD,
            "--no-progress"]  # fmt: skip
    if history is not None:
        args += ["--history-accounts", str(history)]
    subprocess.run(args, env=env, check=True)
    return time.perf_counter() - t0


def start_server(url: str, data_dir: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ, "METERLINE_DATABASE_URL": url, "METERLINE_DATA_DIR": str(data_dir),
        "METERLINE_HTTP_HOST": "127.0.0.1", "METERLINE_HTTP_PORT": str(port),
        "METERLINE_INGEST": "0", "METERLINE_PREPAID_SWEEP_SECONDS": "0",
        "METERLINE_PREPAID_NOTIFY_SECONDS": "0", "METERLINE_JWT_SECRET": "bench-" + "x" * 40,
        "METERLINE_ACCESS_TOKEN_MINUTES": "120",
        "METERLINE_AUTH_REQUIRE_TOTP": "0",  # the seeded operator has no second factor
        "METERLINE_HTTP_WORKERS": str(workers),
    }  # fmt: skip
    log = (data_dir / "serve.log").open("ab")
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/meterline"), "--log-level", "WARNING", "serve"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(600 * workers):
        try:
            if httpx.get(base + "/health", timeout=1).status_code < 500:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: see {data_dir / 'serve.log'}")
        time.sleep(0.1)
    raise TimeoutError("the server did not start")


def login(base: str, user: str, password: str) -> str:
    r = httpx.post(base + "/api/auth/login", json={"username": user, "password": password},
                   timeout=60)  # fmt: skip
    r.raise_for_status()
    return str(r.json()["access_token"])


def tokens(base: str, prefix: str, password: str, customer: str) -> dict[str, str]:
    p = prefix.lower()
    out = {"": ""}
    for role, user in (("customer", customer), ("inspector", f"{p}-inspector-1"),
                       ("operator", f"{p}-operator-1")):  # fmt: skip
        out[role] = login(base, user, password)
    return out


def morning(base: str, users: list[str], password: str) -> list[Result]:
    """A morning sync: every inspector's first book at once on a server that has built none,
    then every inspector asking again whether it changed (304), all at once."""
    toks = [login(base, user, password) for user in users]

    async def wave(etags: list[str]) -> tuple[float, list[float], list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=base, timeout=FIRST_TIMEOUT_S) as client:

            async def one(tok: str, etag: str) -> tuple[float, httpx.Response]:
                headers = {"Authorization": f"Bearer {tok}"}
                if etag:
                    headers["If-None-Match"] = etag
                t0 = time.perf_counter()
                r = await client.get("/api/field/books/current", headers=headers)
                return time.perf_counter() - t0, r

            t0 = time.perf_counter()
            done = await asyncio.gather(*(one(t, e) for t, e in zip(toks, etags, strict=True)))
            return time.perf_counter() - t0, [d for d, _ in done], [r for _, r in done]

    out = []
    etags = [""] * len(toks)
    waves = ((f"inspectors: {len(toks)} first books at once", 200),
             (f"inspectors: {len(toks)} books unchanged at once (304)", 304))  # fmt: skip
    for name, want in waves:
        wall, took, answers = asyncio.run(wave(etags))
        took.sort()
        bad = sum(r.status_code != want for r in answers)
        etags = [r.headers.get("ETag", "") for r in answers]
        p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
        out.append(Result(Call(name, "inspector", "/api/field/books/current", want == 304),
                          len(took) / wall, took[len(took) // 2] * 1000, p99 * 1000, len(took),
                          bad))  # fmt: skip
    return out


def drive(
    base: str, call: Call, token: str, args: argparse.Namespace, work: Path, etag: str = ""
) -> Result:
    script = work / "auth.lua"
    extra = f'wrk.headers["If-None-Match"] = {json.dumps(etag)}' if etag else ""
    lua = LUA % (token, extra)
    script.write_text(lua if token else lua.split("\n", 3)[3])  # /health: no header
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
           "--timeout", "60s", "-s", str(script), base + call.path]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    found = re.search(r"^JSON (.*)$", out, re.M)
    assert found, out
    m = json.loads(found.group(1))
    return Result(call, m["requests"] / (m["duration_us"] / 1e6), m["p50"] / 1000,
                  m["p99"] / 1000, m["requests"], m["status"] + m["other"])  # fmt: skip


def sequential(base: str, call: Call, auth: dict[str, str], first_s: float) -> Result:
    """A call slower than a fifth of wrk's window: three more requests one after another."""
    took = [first_s]
    bad = 0
    for _ in range(3):
        r = httpx.get(base + call.path, timeout=FIRST_TIMEOUT_S, headers=auth)
        bad += r.status_code >= 300 and r.status_code != 304
        took.append(r.elapsed.total_seconds())
    took.sort()
    return Result(call, len(took) / sum(took), took[len(took) // 2] * 1000, took[-1] * 1000,
                  len(took), bad)  # fmt: skip


def run(url: str, label: str, args: argparse.Namespace, work: Path) -> list[Result]:
    data_dir = work / label
    data_dir.mkdir(exist_ok=True)
    if args.database_url is None:
        took = seed(url, data_dir, args.accounts, args.history_accounts)
        print(f"{label}: seeded {args.accounts} accounts in {took:.0f} s", flush=True)
    proc, base = start_server(url, data_dir, args.workers)
    try:
        w = who(url, args.prefix)
        toks = tokens(base, args.prefix, args.password, str(w["customer"]))
        results = []
        if not args.only or re.search(args.only, "inspectors: first books at once"):
            inspectors = w["inspectors"]
            assert isinstance(inspectors, list)
            results += morning(base, inspectors[: args.inspectors], args.password)
            for r in results:
                print(f"  {r.call.name:<36} {r.rps:8.3g} books/s  p50 {r.p50_ms:8.1f} ms  "
                      f"p99 {r.p99_ms:8.1f} ms  non-2xx {r.bad}", flush=True)  # fmt: skip
        for call in calls(w):
            if args.only and call.name != "health" and not re.search(args.only, call.name):
                continue
            auth = {"Authorization": f"Bearer {toks[call.role]}"} if call.role else {}
            try:
                first = httpx.get(base + call.path, timeout=FIRST_TIMEOUT_S, headers=auth)
            except httpx.TimeoutException:
                print(f"  {call.name}: no answer in {FIRST_TIMEOUT_S} s", flush=True)
                results.append(Result(call, 0.0, FIRST_TIMEOUT_S * 1000, FIRST_TIMEOUT_S * 1000,
                                      1, 1))  # fmt: skip
                continue
            if first.status_code in (404, 405):
                print(f"  {call.name}: {call.path} answers {first.status_code}, skipped",
                      flush=True)  # fmt: skip
                continue
            etag = ""
            if call.if_none_match:
                etag = first.headers["ETag"]
                auth = {**auth, "If-None-Match": etag}
                first = httpx.get(base + call.path, timeout=FIRST_TIMEOUT_S, headers=auth)
                assert first.status_code == 304, first.status_code
            if first.elapsed.total_seconds() > args.duration / 5:  # too slow for wrk's window
                results.append(sequential(base, call, auth, first.elapsed.total_seconds()))
            else:
                results.append(drive(base, call, toks[call.role], args, work, etag))
            r = results[-1]
            print(f"  {call.name:<36} {r.rps:8.3g} req/s  p50 {r.p50_ms:8.1f} ms  "
                  f"p99 {r.p99_ms:8.1f} ms  non-2xx {r.bad}", flush=True)  # fmt: skip
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # stuck in a long query
            proc.kill()
            proc.wait()


def table(label: str, results: list[Result]) -> str:
    health = next(r for r in results if r.call.name == "health")
    lines = [
        f"| {label} | req/s | ratio to /health | p50 ms | p99 ms | requests | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.call.name} | {r.rps:.3g} | {r.rps / health.rps:.3g} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.requests} | {r.bad} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--accounts", type=int, default=20_000, help="accounts to seed (20000)")
    p.add_argument("--history-accounts", type=int, help="accounts with 13 months (seed default)")
    p.add_argument("--only-db", choices=["sqlite", "postgresql"], help="one database only")
    p.add_argument("--database-url", help="an already seeded database (no seeding)")
    p.add_argument("--password", default=PASSWORD, help="the seeded users' password")
    p.add_argument("--prefix", default="S1", help="the seed's natural-key prefix (S1)")
    p.add_argument("--duration", type=int, default=10, help="seconds per call (10)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--workers", type=int, default=1, help="METERLINE_HTTP_WORKERS (1)")
    p.add_argument("--inspectors", type=int, default=16,
                   help="inspectors syncing their books at once, first thing (16)")  # fmt: skip
    p.add_argument("--only", help="regular expression: the calls to run (health always)")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="meterline-bench-api-"))
    tables = []
    try:
        if args.database_url:
            label = "postgresql" if "postgresql" in args.database_url else "sqlite"
            tables.append(table(label, run(args.database_url, label, args, work)))
        else:
            if args.only_db in (None, "sqlite"):
                url = f"sqlite+aiosqlite:///{work / 'api.db'}"
                tables.append(table("sqlite", run(url, "sqlite", args, work)))
            if args.only_db in (None, "postgresql"):
                from tests.support.services import start_postgres

                pg = start_postgres()
                try:
                    pg.psql("CREATE DATABASE bench_api")
                    tables.append(table("postgresql", run(pg.url("bench_api"), "postgresql",
                                                          args, work)))  # fmt: skip
                finally:
                    pg.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = "a database seeded before" if args.database_url else f"{args.accounts} accounts"
    print(f"\n{size}, {args.workers} worker(s), wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration}s per call\n")  # fmt: skip
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
