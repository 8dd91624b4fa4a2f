"""Where training metrics go: RUN/metrics.jsonl always (the contract later stages read), plus
TensorBoard or Weights & Biases when asked for (`log_to` in the run config, or `emergent train --log`).
Each checkpoint's validation loss goes to TensorBoard and W&B as `val/loss` (and to checkpoints.jsonl).

Both are optional extras (`pip install 'emergent-suite[tensorboard]'` or `[wandb]`), imported only when
asked for; asking for one that is not installed is a one-line error before training starts.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Protocol

from contracts.atomic import JsonlAppender
from contracts.errors import ConfigError

SINKS = ("tensorboard", "wandb")


class MetricsLogger(Protocol):
    def log(self, metrics: dict[str, Any]) -> None:
        """One log step; `metrics` holds "step" and the numbers of that step."""

    def log_validation(self, step: int, val_loss: float) -> None:
        """The validation loss at a checkpoint."""

    def close(self) -> None: ...


class JsonlLogger:
    def __init__(self, path: Path):
        self._log = JsonlAppender(path)

    def log(self, metrics: dict[str, Any]) -> None:
        self._log.write(metrics)

    def log_validation(self, step: int, val_loss: float) -> None:
        pass  # checkpoints.jsonl holds it (the contract); metrics.jsonl keeps one row per training log step

    def close(self) -> None:
        self._log.close()


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoardLogger:
    def __init__(self, log_dir: Path):
        if importlib.util.find_spec("tensorboard") is None:  # checked before torch's wrapper is imported
            raise ConfigError("log_to tensorboard needs the tensorboard package: pip install 'emergent-suite[tensorboard]'")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, metrics: dict[str, Any]) -> None:
        for name, value in _numbers(metrics).items():
            self._writer.add_scalar(f"train/{name}", value, global_step=int(metrics["step"]))

    def log_validation(self, step: int, val_loss: float) -> None:
        self._writer.add_scalar("val/loss", val_loss, global_step=step)

    def close(self) -> None:
        self._writer.close()


class WandbLogger:
    def __init__(self, run_dir: Path, name: str, config: dict[str, Any]):
        try:
            import wandb
        except ImportError:
            raise ConfigError("log_to wandb needs the wandb package: pip install 'emergent-suite[wandb]'") from None
        self._wandb = wandb
        self._run = wandb.init(name=name, config=config, dir=str(run_dir), resume="allow")

    def log(self, metrics: dict[str, Any]) -> None:
        self._run.log(_numbers(metrics), step=int(metrics["step"]))

    def log_validation(self, step: int, val_loss: float) -> None:
        self._run.log({"val/loss": val_loss}, step=step)  # the step of that step's training log: wandb accepts it

    def close(self) -> None:
        self._run.finish()


class FanOut:
    """Every sink gets every step; metrics.jsonl first, so it never waits on an optional sink."""

    def __init__(self, sinks: list[MetricsLogger]):
        self.sinks = sinks

    def log(self, metrics: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.log(metrics)

    def log_validation(self, step: int, val_loss: float) -> None:
        for sink in self.sinks:
            sink.log_validation(step, val_loss)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def make_logger(run_dir: str | Path, log_to: list[str] | tuple[str, ...] = (), name: str = "run",
                config: dict[str, Any] | None = None) -> FanOut:
    run_dir = Path(run_dir)
    unknown = sorted(set(log_to) - set(SINKS))
    if unknown:
        raise ConfigError(f"log_to names unknown sinks {unknown}; choose from {', '.join(SINKS)} (metrics.jsonl is always written)")
    sinks: list[MetricsLogger] = [JsonlLogger(run_dir / "metrics.jsonl")]
    if "tensorboard" in log_to:
        sinks.append(TensorBoardLogger(run_dir / "tensorboard"))
    if "wandb" in log_to:
        sinks.append(WandbLogger(run_dir, name, config or {}))
    return FanOut(sinks)
