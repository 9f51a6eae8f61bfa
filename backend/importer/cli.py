"""``meterline import customers|meters|areas|boxes FILE.csv``: validate, upsert, report
rejected rows."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from backend.cliargs import SubParsers, settings_from


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from backend.db import create_engine, session_factory
    from backend.importer.service import ImportFileError, import_file, write_rejects

    settings = settings_from(args)
    path = Path(args.file)
    report_path = Path(args.report) if args.report else path.with_suffix(".rejected.csv")

    async def main() -> int:
        engine = create_engine(settings.database_url)
        bar = tqdm(desc=f"{args.kind} {path.name}", unit=" rows", disable=args.no_progress)
        try:
            report = await import_file(
                session_factory(engine), args.kind, path, timezone=settings.timezone,
                encoding=args.encoding, progress=bar.update,
                rename_reference=args.rename_reference,
            )  # fmt: skip
        except ImportFileError as exc:
            print(f"meterline import: {exc}", file=sys.stderr)
            return 2
        finally:
            bar.close()
            await engine.dispose()
        print(
            f"{args.kind}: {report.rows} rows read, {report.imported} imported "
            f"({report.created} new, {report.updated} updated, {report.unchanged} unchanged), "
            f"{len(report.rejected)} rejected"
        )
        if report.rejected:
            write_rejects(report, report_path)
            for r in report.rejected[:10]:
                print(f"  line {r.line}: {r.reason}")
            if len(report.rejected) > 10:
                print(f"  … and {len(report.rejected) - 10} more")
            print(f"rejected rows written to {report_path}")
            return 3
        return 0

    return asyncio.run(main())


def register(sub: SubParsers) -> None:
    sp = sub.add_parser(
        "import", help="bulk import customers, meters, areas or meter boxes from CSV"
    )
    sp.add_argument(
        "kind", choices=["customers", "meters", "areas", "boxes"], help="what the file holds"
    )
    sp.add_argument("file", help="CSV file with a header line (see docs/import.md)")
    sp.add_argument("--report", help="where to write rejected rows (default FILE.rejected.csv)")
    sp.add_argument("--encoding", default="utf-8-sig", help="file encoding, e.g. gbk")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.add_argument(
        "--rename-reference",
        action="store_true",
        help="let rows rename existing grids and transformer areas (else such rows are rejected)",
    )
    sp.add_argument("--data-dir")
    sp.set_defaults(func=_run)
