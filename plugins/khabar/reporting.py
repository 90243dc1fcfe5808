"""The reporting layer analysts query: views and materialized views in schema ``reporting``, defined
by the SQL files under ``include/sql/reporting/`` (applied in file order), refreshed after loads and
checked by the ``reporting`` gate (``khabar.gates``).

A file is (re)created only when its text changed since it was applied: the sha256 of the file is
kept as the comment of the objects it creates, so a refresh does not drop what analysts are reading.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from khabar.paths import INCLUDE_DIR
from khabar.warehouse import apply_migrations, transaction

REPORTING_SQL_DIR = INCLUDE_DIR / "sql" / "reporting"
# Serialises concurrent refreshes (two asset events close together); any fixed 64-bit key.
_REFRESH_LOCK = 7_310_442_009
_CREATE = re.compile(r"create\s+(?:or\s+replace\s+)?(materialized\s+)?view\s+(?:if\s+not\s+exists\s+)?(reporting\.\w+)", re.I)


@dataclass(frozen=True)
class ViewFile:
    path: Path
    objects: tuple[tuple[str, bool], ...]  # (qualified name, is materialized), in file order

    @property
    def marker(self) -> str:
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return f"khabar {self.path.name} sha256:{digest}"


def view_files(sql_dir: Path = REPORTING_SQL_DIR) -> list[ViewFile]:
    """The reporting SQL files in the order they are applied, with the views each one creates."""
    out = []
    for path in sorted(sql_dir.glob("*.sql")):
        found = tuple((name.lower(), bool(mat)) for mat, name in _CREATE.findall(path.read_text(encoding="utf-8")))
        if not found:
            raise ValueError(f"{path.name} creates no view in schema reporting")
        out.append(ViewFile(path, found))
    return out


def refresh_views(dsn: str, sql_dir: Path = REPORTING_SQL_DIR) -> dict:
    """Create the reporting views whose files are new or changed, then refresh every materialized
    view, all in one transaction (analysts see the old rows or the new ones, never a mix).

    Returns the row count of each object, e.g. ``{"reporting.daily_volume": 42, ...}``, and the
    files (re)applied. The Jalali grouping comes from ``reporting.calendar``: a day such as
    2022-01-25 is «۱۴۰۰-۱۱-۰۵», month «بهمن».
    """
    apply_migrations(dsn)  # the tables the views read exist even before the first load
    rows: dict[str, int] = {}
    applied: list[str] = []
    with transaction(dsn) as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_REFRESH_LOCK,))
        for vf in view_files(sql_dir):
            first = vf.objects[0][0]
            cur.execute("select obj_description(to_regclass(%s), 'pg_class')", (first,))
            if cur.fetchone()[0] != vf.marker:
                # Changed definition: drop what this file made (dependants go too and are
                # recreated from their own files below, since their marker goes with them).
                for name, mat in reversed(vf.objects):
                    cur.execute(f"drop {'materialized view' if mat else 'view'} if exists {name} cascade")
                cur.execute(vf.path.read_text(encoding="utf-8"))
                for name, mat in vf.objects:
                    kind = "materialized view" if mat else "view"
                    cur.execute(f"comment on {kind} {name} is %s", (vf.marker,))
                applied.append(vf.path.name)
            else:
                for name, mat in vf.objects:
                    if mat:
                        cur.execute(f"refresh materialized view {name}")
            for name, _ in vf.objects:
                cur.execute(f"select count(*) from {name}")
                rows[name] = cur.fetchone()[0]
    return {"applied": applied, "rows": rows}


def reporting_run_id(dsn: str, days: list[str] | None = None) -> str:
    """The run id the reporting gate is stored under: the days whose loads triggered the refresh
    (``2022-01-25,2022-01-26``), else the latest day loaded, else ``none``."""
    if days:
        return ",".join(sorted(set(days)))
    with transaction(dsn) as cur:
        cur.execute("select max(run_id) from reporting.runs")
        latest = cur.fetchone()[0]
    return latest or "none"


USAGE = """usage: python -m khabar.reporting refresh | "SELECT …" | psql [psql options]

  refresh     create or refresh the reporting views (what news_reporting's first task does)
  "SELECT …"  run a query and print its rows, tab-separated, under a header line
  psql        an interactive psql on the warehouse (the one bundled with pgserver when none is installed)

The warehouse is AIRFLOW_CONN_NEWS_WAREHOUSE when set (as for the DAGs), else the embedded PostgreSQL."""


def psql_binary() -> str:
    """psql on PATH, else the one the pgserver wheel ships with the embedded server."""
    import shutil

    found = shutil.which("psql")
    if found:
        return found
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")


def main(argv: list[str]) -> int:
    import os
    import sys

    from khabar.report import dsn_from_env

    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    dsn = dsn_from_env()
    if argv[0] == "refresh":
        out = refresh_views(dsn)
        print(f"applied: {', '.join(out['applied']) or 'none'}; rows: {out['rows']}")
        return 0
    if argv[0] == "psql":
        binary = psql_binary()
        os.execv(binary, [binary, dsn, *argv[1:]])
    with transaction(dsn) as cur:
        cur.execute(" ".join(argv))
        if cur.description is None:
            print(cur.statusmessage)
            return 0
        print("\t".join(d[0] for d in cur.description))
        for row in cur.fetchall():
            print("\t".join("" if v is None else str(v) for v in row))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
