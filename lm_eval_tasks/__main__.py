from lm_eval_tasks import TASK_DIR

print(TASK_DIR)
