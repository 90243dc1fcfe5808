"""Screenshot of a DAG's grid in the Airflow UI, taken in headless Chromium (not a test).

Against a running UI (``make airflow``, which lets everyone in as admin), optionally after creating a
backfill through the REST API and waiting for it:

    python scripts/screenshot_grid.py --backfill 2022-01-25 2022-01-26 --out docs/backfill_grid.png

The dates are Tehran days (the DAG's timezone), sent as Tehran midnights, as the UI's backfill form does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def call(url: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def get_token(base: str, user: str | None, password: str | None) -> str:
    """A JWT from SimpleAuthManager: with a user and password, or without when all users are admins."""
    if user:
        return call(f"{base}/auth/token", "POST", {"username": user, "password": password})["access_token"]
    return call(f"{base}/auth/token")["access_token"]


def run_backfill(base: str, token: str, dag_id: str, first: date, last: date, tz: str, timeout: float) -> dict:
    tehran = ZoneInfo(tz)
    deadline = time.monotonic() + timeout
    while True:  # a fresh UI needs a few seconds before the DAG processor has stored the DAG
        try:
            call(f"{base}/api/v2/dags/{dag_id}", token=token)
            break
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)
    call(f"{base}/api/v2/dags/{dag_id}", "PATCH", {"is_paused": False}, token)  # paused DAGs' runs stay queued
    backfill = call(f"{base}/api/v2/backfills", "POST", {
        "dag_id": dag_id, "from_date": datetime(first.year, first.month, first.day, tzinfo=tehran).isoformat(),
        "to_date": datetime(last.year, last.month, last.day, tzinfo=tehran).isoformat(),
        "reprocess_behavior": "completed", "max_active_runs": 1,
    }, token)
    while time.monotonic() < deadline:
        state = call(f"{base}/api/v2/backfills/{backfill['id']}", token=token)
        if state["completed_at"]:
            return state
        time.sleep(5)
    raise SystemExit(f"backfill {backfill['id']} did not complete within {timeout:.0f} s")


def screenshot(browser: str, url: str, out: Path, size: str, budget_ms: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="khabar-chromium-") as profile:
        cmd = [browser, *HEADLESS, f"--user-data-dir={profile}", f"--window-size={size}",
               f"--virtual-time-budget={budget_ms}", f"--screenshot={out.resolve()}", url]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the api-server (UI) address")
    parser.add_argument("--dag", default="news_ingest")
    parser.add_argument("--backfill", nargs=2, metavar=("FIRST_DAY", "LAST_DAY"), type=date.fromisoformat)
    parser.add_argument("--tz", default="Asia/Tehran", help="timezone of the backfill's days (the DAG's)")
    parser.add_argument("--user", help="SimpleAuthManager user (leave out when all users are admins)")
    parser.add_argument("--password")
    parser.add_argument("--out", type=Path, default=Path("docs/backfill_grid.png"))
    parser.add_argument("--size", default="1400,900")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    browser = find_browser()
    if browser is None:
        print("No Chromium found (looked for " + ", ".join(BROWSERS) + "). Install it, e.g. on Debian/Ubuntu:\n"
              "  sudo apt-get update && sudo apt-get install -y chromium", file=sys.stderr)
        return 2
    base = args.url.rstrip("/")
    try:
        token = get_token(base, args.user, args.password)
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach or log in to {base} ({exc}); start the UI with `make airflow`", file=sys.stderr)
        return 1
    if args.backfill:
        done = run_backfill(base, token, args.dag, *args.backfill, args.tz, args.timeout)
        print(f"backfill {done['id']} completed at {done['completed_at']}")
    # The UI logs in by itself when all users are admins: /auth/token/login sets the cookie, then redirects.
    target = f"{base}/auth/token/login?next={base}/dags/{args.dag}" if not args.user else f"{base}/dags/{args.dag}"
    screenshot(browser, target, args.out, args.size, 20000)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
