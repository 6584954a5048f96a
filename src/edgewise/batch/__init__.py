"""Batch jobs: a task over a file of records, crash-safe and resumable on this machine
(``run_batch``), or on a Ray cluster (``run_ray``, with the ``ray`` extra)."""

from __future__ import annotations

from edgewise.batch.job import JobSpec, Processor, Record, iter_jsonl, iter_records
from edgewise.batch.local import BatchResult, ProgressBar, plan_workers, run_batch

__all__ = [
    "BatchResult",
    "JobSpec",
    "Processor",
    "ProgressBar",
    "Record",
    "iter_jsonl",
    "iter_records",
    "plan_workers",
    "run_batch",
]
