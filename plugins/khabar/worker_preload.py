"""Imported once by each Celery worker at its start (``khabar.celery_config``), before it forks anything.

Airflow 3 runs every task instance in a process forked from the worker's, so what the worker has imported
is there, for free, in every task: Great Expectations (scipy, pandas, altair: 2 to 6 s on this project's
2-core machine), which each of a run's six gate tasks would otherwise import again, and the normalizer's
tables, strip's parser and the dedup code that every mapped batch task needs. Nothing here touches a
database, a file outside the project's caches, or a thread.

It also makes each task's supervisor notice its task process' exit at once (``notice_task_exit_promptly``).
"""

from __future__ import annotations

import logging
import time

_started = time.perf_counter()
logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its import logs every API it registers

import great_expectations  # noqa: E402
import great_expectations.expectations  # noqa: E402, F401

import khabar.dedup_stage  # noqa: E402
import khabar.gates  # noqa: E402
import khabar.gx_views  # noqa: E402
import khabar.pipeline  # noqa: E402
import khabar.strip  # noqa: E402, F401
from khabar.dates import tag_date  # noqa: E402, F401
from khabar.normalize import normalizer  # noqa: E402
from khabar.supervisor_patch import notice_task_exit_promptly  # noqa: E402

normalizer()  # its tables from the cache file (or built from hazm once, written for the next process)
SUPERVISOR_PATCHED = notice_task_exit_promptly()  # the pool processes inherit it too

SECONDS = time.perf_counter() - _started
logging.getLogger(__name__).warning(
    "khabar.worker_preload: Great Expectations, the normalizer and the stages' code loaded in %.1f s;"
    " the worker's task processes inherit them; supervisors wait for their task's exit: %s", SECONDS,
    "yes" if SUPERVISOR_PATCHED else "NO (this Airflow's supervisor differs: tasks may hold their slot seconds longer)",
)
