"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class EmergentError(Exception):
    """Base class: the message names the problem and the fix."""


class ConfigError(EmergentError):
    pass


class DataError(EmergentError):
    pass


class RunDirError(EmergentError):
    pass


class TrainingDiverged(EmergentError):
    def __init__(self, step: int, loss: float, last_checkpoint: str | None):
        where = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written yet"
        super().__init__(
            f"loss became {loss} at step {step}; training stopped and {where} "
            "(lower optim.lr, raise the warmup or check optim.weight_decay, then rerun with --resume)"
        )
        self.step = step
