"""The contracts between stages: atomic files and JSONL, provenance, the run-directory reader, the error root.

Every stage (trainer, lm_eval_tasks, passuntil, analysis) imports from here; this package imports no stage.
"""
