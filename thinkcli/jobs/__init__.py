"""Running many jobs: K at a time within budgets, and the JSONL file that lets a rerun resume.

Pure machinery over the standard library (and events, errors): ``runner`` schedules,
``budget`` keeps the ledger that no set of concurrent jobs can overspend, ``output``
appends one row per job and reads back what an earlier run finished. ``think batch``
and ``think bench`` both run on it; neither knows how the other fills a job.
"""
