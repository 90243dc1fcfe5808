"""Row count and md5 digest of every reporting table's rows (timestamps aside), of a database kept by
``bench_pipeline.py --keep``: what a change that must leave the warehouse as it was is checked with.

    PYTHONPATH=plugins python benchmarks/warehouse_checksums.py khabar_bench_1234abcd > before.txt
    ... (same landing zone, changed code) ...
    PYTHONPATH=plugins python benchmarks/warehouse_checksums.py khabar_bench_5678efgh | diff before.txt -
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load_sql import snapshot  # the same digest bench_load_sql --compare uses

SERVER = os.environ.get("KHABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    conn = psycopg2.connect(urlunsplit(urlsplit(SERVER)._replace(path=f"/{sys.argv[1]}")))
    try:
        for table, (rows, digest) in snapshot(conn.cursor()).items():
            print(f"{table:<24}{rows:>10}  {digest}")
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
