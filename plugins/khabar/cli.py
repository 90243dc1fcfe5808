"""Small command-line helpers for the Makefile: ``python -m khabar.cli days|dsn|migrate``."""

from __future__ import annotations

import sys

from khabar.ingest import landing_days
from khabar.pipeline import landing_root_from_env
from khabar.report import dsn_from_env
from khabar.warehouse import apply_migrations


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "days":  # every day with data in the landing zone, one per line
        print("\n".join(d.isoformat() for d in landing_days(landing_root_from_env())))
    elif command == "migrate":
        applied = apply_migrations(dsn_from_env())
        print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
    else:
        print("usage: python -m khabar.cli days|migrate", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
