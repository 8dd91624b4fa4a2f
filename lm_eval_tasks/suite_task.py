"""The suite's task class: a group runs the tasks whose data is there and warns about the others.

Every es_* task YAML names this class (`class: !function lm_eval_tasks.suite_task.SuiteTask`), which
lm-eval builds with the task's config. A group YAML of the suite sets `when_data_missing: skip`, a key
lm-eval hands to each member task as an override. Built that way, a task whose dataset is absent logs
one warning (what is missing and how to supply it) and becomes a `MissingTask`: neither a Task nor a
Group, so lm-eval's group.get_all_tasks() leaves it out and the rest of the group runs. A task named on
its own gets no such key, and its DatasetMissing stops the run with the same message.
"""
from __future__ import annotations

import logging

from lm_eval.api.task import ConfigurableTask

from lm_eval_tasks.sources import DatasetMissing

SKIP_KEY = "when_data_missing"
log = logging.getLogger("lm_eval_tasks")


def skip_message(task: str, err: Exception) -> str:
    """The one warning line for a task left out of a group: what is missing and how to supply it."""
    return f"{task}: skipped, data missing -- {str(err).removeprefix(f'{task}: ')}"


class MissingTask:
    """Placeholder for a skipped task inside a group (lm-eval ignores it: not a Task, not a Group)."""

    def __init__(self, task_name: str, reason: str):
        self.task_name = task_name
        self.reason = reason

    def __repr__(self) -> str:
        return f"MissingTask({self.task_name!r})"


class SuiteTask(ConfigurableTask):
    def __new__(cls, config: dict | None = None, **kwargs):
        config = config if config is not None else {}
        config.pop("class", None)  # the YAML key that chose this class; not a task setting
        mode = config.pop(SKIP_KEY, "fail")
        load = config.get("custom_dataset")
        if load is None:
            raise ValueError(f"task {config.get('task')}: class SuiteTask needs custom_dataset in its YAML")
        try:  # load once here (to decide), hand the rows to __init__'s download()
            dataset = load(**(config.get("metadata") or {}), **(config.get("dataset_kwargs") or {}))
        except DatasetMissing as err:
            if mode != "skip":
                raise
            log.warning(skip_message(str(config.get("task")), err))
            return MissingTask(str(config.get("task")), str(err))
        task = super().__new__(cls)
        task._preloaded = dataset
        return task

    def __init__(self, config: dict | None = None, **kwargs):
        super().__init__(config=config, **kwargs)

    def download(self, dataset_kwargs=None, **kwargs) -> None:
        preloaded = getattr(self, "_preloaded", None)
        if preloaded is None:
            return super().download(dataset_kwargs, **kwargs)
        self.dataset = preloaded
        self._preloaded = None
