"""Command-line helpers: ``python -m khabar.cli days|migrate|quarantine|reprocess``.

- ``days``: every day with data in the landing zone, one per line (the Makefile's ``run`` loop).
- ``migrate``: apply the numbered migrations.
- ``quarantine [DAY]``: what was quarantined, with its reason and the copy of its bytes.
- ``reprocess DAY``: after fixing quarantined files in place, run the day again (every stage and
  gate, in this process, under the day's lock) and say what became of each file quarantined before.
"""

from __future__ import annotations

import sys
from datetime import date

from khabar.ingest import landing_days
from khabar.pipeline import Run, landing_root_from_env, quarantine_dir, run_day
from khabar.report import dsn_from_env
from khabar.warehouse import apply_migrations, transaction

QUARANTINE_SQL = (
    "select run_id, source_path, record_index, stage, reason, sha256, evidence_path from reporting.quarantine"
    " where (%(day)s::text is null or run_id = %(day)s) order by run_id, source_path, record_index"
)


def list_quarantine(dsn: str, day: str | None) -> list[tuple]:
    with transaction(dsn) as cur:
        cur.execute(QUARANTINE_SQL, {"day": day})
        return cur.fetchall()


def reprocess(dsn: str, run: Run) -> dict[str, str]:
    """Run the day again; return ``{source_path: outcome}`` for the files quarantined before it."""
    with transaction(dsn) as cur:
        cur.execute("select distinct source_path from reporting.quarantine where run_id = %s", (run.run_id,))
        before = [row[0] for row in cur.fetchall()]
    run_day(dsn, run)
    with transaction(dsn) as cur:
        cur.execute(
            "select source_path, coalesce(outcome, 'lost') from reporting.files where run_id = %s and source_path = any(%s)",
            (run.run_id, before),
        )
        after = dict(cur.fetchall())
    return {path: after.get(path, "gone from the landing zone") for path in before}


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "days":  # every day with data in the landing zone, one per line
        print("\n".join(d.isoformat() for d in landing_days(landing_root_from_env())))
    elif command == "migrate":
        applied = apply_migrations(dsn_from_env())
        print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    elif command == "quarantine":
        dsn = dsn_from_env()
        apply_migrations(dsn)
        run = Run(date(2000, 1, 1), landing_root_from_env())
        for run_id, path, index, stage, reason, sha, evidence in list_quarantine(dsn, argv[2] if len(argv) > 2 else None):
            record = "" if index < 0 else f"#{index}"
            copy = f"  copy: {quarantine_dir(run) / evidence}" if evidence else ""
            print(f"{run_id}  {path}{record}  [{stage}] {reason}  sha256={sha or '-'}{copy}")
    elif command == "reprocess" and len(argv) > 2:
        run = Run(date.fromisoformat(argv[2]), landing_root_from_env())
        for path, outcome in reprocess(dsn_from_env(), run).items():
            print(f"{path}: {outcome}")
    else:
        print("usage: python -m khabar.cli days|migrate|quarantine [DAY]|reprocess DAY", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
