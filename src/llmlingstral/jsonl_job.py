"""The JSONL job of ``compress-batch`` under its earlier import path.

It lives in :mod:`llmlingstral.execution.jsonl_job`; the names below are the same objects.
"""

from __future__ import annotations

from .execution.jsonl_job import BatchSettings, JobReport, errors_file_for, run_jsonl_job

__all__ = ["BatchSettings", "JobReport", "errors_file_for", "run_jsonl_job"]
