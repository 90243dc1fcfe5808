"""khabar: a Persian news ingestion library (ingest, strip, normalize, date-tag, dedup, load).

Knows nothing of Airflow; the DAGs under ``dags/`` are thin wrappers around ``khabar.pipeline``.
"""

from __future__ import annotations

__version__ = "0.1.0"
