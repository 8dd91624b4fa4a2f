"""The contracts between stages: atomic files and the one JSONL reader/appender (atomic), provenance,
the run-directory reader (run_dir), the PassUntil record schema and reader (records), the error root
(errors: click exceptions) and the one table printer (table).

Every stage (trainer, lm_eval_tasks, passuntil, analysis) imports from here; this package imports no stage
(tests/test_imports.py checks both).
"""
