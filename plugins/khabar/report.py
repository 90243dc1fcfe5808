"""A short report of the warehouse, read back with SQL: ``python -m khabar.report``."""

from __future__ import annotations

import os
import sys

from khabar.warehouse import connect, embedded_dsn

REPORT_SQL = """
select (select coalesce(sum(documents_seen), 0) from reporting.runs)                as documents_in,
       (select count(*) from reporting.articles)                                   as articles_loaded,
       (select count(*) from reporting.stories)                                    as stories,
       (select count(*) from reporting.duplicates)                                 as exact_duplicates,
       (select count(*) from reporting.quarantine)                                 as quarantined,
       (select count(*) from reporting.gate_results where success)                 as gates_passed,
       (select count(*) from reporting.gate_results where not success)            as gates_failed
"""


def dsn_from_env() -> str:
    """The warehouse the Airflow connection names (URI in the environment), else the embedded one."""
    return os.environ.get("AIRFLOW_CONN_NEWS_WAREHOUSE") or embedded_dsn()


def main() -> int:
    conn = connect(dsn_from_env())
    with conn, conn.cursor() as cur:
        cur.execute(REPORT_SQL)
        names = [d[0] for d in cur.description]
        values = cur.fetchone()
        cur.execute("select run_id, articles_loaded, duplicates, quarantined from reporting.runs order by run_id")
        runs = cur.fetchall()
        cur.execute("select source_path, stage, reason from reporting.quarantine order by run_id, source_path, record_index")
        quarantined = cur.fetchall()
    conn.close()
    print("news warehouse report")
    for name, value in zip(names, values, strict=False):
        print(f"  {name.replace('_', ' '):<18} {value}")
    print("  runs (day: articles / duplicates / quarantined):")
    for run_id, articles, dups, quar in runs:
        print(f"    {run_id}: {articles} / {dups} / {quar}")
    if quarantined:
        print("  quarantined:")
        for path, stage, reason in quarantined:
            print(f"    {path} [{stage}] {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
