"""The Celery configuration of the project's workers: Airflow's default, plus ``khabar.worker_preload``
among the modules a worker imports when it starts (Celery's ``imports``), so the task processes it forks
start with the heavy libraries loaded. Set ``[celery] celery_config_options`` (env
``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS``) to ``khabar.celery_config.CELERY_CONFIG``; the scheduler reads the
same dict and imports nothing from it (Celery imports ``imports`` in workers only)."""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), "khabar.worker_preload"),
}
