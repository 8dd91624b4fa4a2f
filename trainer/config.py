"""Typed configuration for one training run.

A run is fully described by a `TrainConfig`; it is written, resolved, to RUN/config.yaml so a
checkpoint can always be traced back to the exact model shape, data, optimizer, schedule and seed.
Every default is visible here.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts.errors import ConfigError


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 reads `3e-4` as a float but `1.0e9` as a string; accept every float spelling (YAML 1.2)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def load_yaml(text: str, where: str | Path = "YAML"):
    """Parse YAML; a syntax error is the user's to fix, named by file, line and column."""
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}{at} is not valid YAML ({problem}); fix the file") from None


def read_yaml_file(path: str | Path, what: str = "file"):
    """The one reader of our YAML inputs: a missing, unreadable or malformed file is one line naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"{what} {path} cannot be read ({err.strerror})") from None
    return load_yaml(text, path)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_name(value: str, what: str) -> None:
    """A name that becomes a path or a table cell: no NUL, newline or other control character."""
    if _CONTROL.search(value):
        raise ConfigError(f"{what} {value!r} holds a control character; use letters, digits, '-', '_' and '.'")


def _check_fields(section: object, where: str) -> None:
    """Types and finiteness of a dataclass's fields, from their annotations (YAML gives any type)."""
    for f in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, f.name)
        kind = str(f.type)
        if value is None and "None" in kind:
            continue
        name = f"{where}{f.name}"
        if kind.startswith(("int", "float")) or kind in ("int | None", "float | None"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            if kind.startswith("int"):
                if not float(value).is_integer():
                    raise ConfigError(f"{name} must be a whole number, got {value!r}")
                setattr(section, f.name, int(value))
        elif kind.startswith("bool") and not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        elif kind.startswith("str") and isinstance(value, Path):
            setattr(section, f.name, str(value))
        elif kind.startswith("str") and not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")


@dataclass
class ModelConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None  # None = n_heads (plain multi-head attention)
    d_ff: int | None = None  # None = SwiGLU rule: 8/3 * d_model rounded up to ffn_multiple_of
    ffn_multiple_of: int = 32
    max_seq_len: int = 2048
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.d_ff is None:
            self.d_ff = swiglu_hidden(self.d_model, self.ffn_multiple_of)
        self.validate()

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def validate(self) -> None:
        _check_fields(self, "model.")
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "max_seq_len"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}; "
                f"choose n_heads dividing d_model (e.g. {self.d_model // 64 or 1} heads of 64)"
            )
        assert self.n_kv_heads is not None and self.d_ff is not None  # resolved in __post_init__
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(
                f"model.n_kv_heads={self.n_kv_heads} does not divide model.n_heads={self.n_heads}; "
                "grouped-query attention needs n_heads to be a multiple of n_kv_heads"
            )
        if self.head_dim % 2:
            raise ConfigError(f"head dimension {self.head_dim} must be even for rotary embeddings")


def swiglu_hidden(d_model: int, multiple_of: int = 32) -> int:
    """LLaMA's rule: 2/3 of 4*d_model, rounded up, keeps SwiGLU's cost equal to a 4x GELU MLP."""
    hidden = int(8 * d_model / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


@dataclass
class OptimConfig:
    lr: float = 3e-3
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0


@dataclass
class ScheduleConfig:
    kind: str = "cosine"  # "cosine": warmup then cosine to this run's own budget; "wsd": warmup-stable-decay
    warmup_fraction: float = 0.05
    warmup_steps: int | None = None  # overrides warmup_fraction when set
    min_lr_ratio: float = 0.1
    decay_fraction: float = 0.2  # wsd: the last fraction of steps decays to min_lr_ratio
    decay_shape: str = "linear"  # wsd decay: "linear" or "sqrt" (1 - sqrt, as in MiniCPM)

    def validate(self) -> None:
        _check_fields(self, "schedule.")
        if self.kind not in ("cosine", "wsd", "constant"):
            raise ConfigError(f"schedule.kind must be cosine, wsd or constant, got {self.kind!r}")
        if self.decay_shape not in ("linear", "sqrt"):
            raise ConfigError(f"schedule.decay_shape must be linear or sqrt, got {self.decay_shape!r}")
        if not 0 <= self.warmup_fraction < 1 or not 0 < self.decay_fraction <= 1:
            raise ConfigError("schedule.warmup_fraction must lie in [0, 1) and decay_fraction in (0, 1]")


@dataclass
class CheckpointPlan:
    log_spaced: int = 4  # this many log-spaced early checkpoints (steps 2^k-like) before the regular ones
    every_tokens: float | None = None  # one checkpoint every this many tokens; None = only log-spaced + final
    final: bool = True
    keep_trainer_state: str = "last"  # "last": optimizer state only in the newest checkpoint; "all": in every one
    max_shard_size: str = "5GB"  # weights above this are sharded with an index, as save_pretrained shards them

    def __post_init__(self):
        if self.keep_trainer_state not in ("last", "all"):
            raise ConfigError(f"checkpoints.keep_trainer_state must be last or all, got {self.keep_trainer_state!r}")
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", str(self.max_shard_size)):
            raise ConfigError(f"checkpoints.max_shard_size must be a size such as 5GB or 500MB, got {self.max_shard_size!r}")


def checkpoint_steps(total_steps: int, tokens_per_step: int, log_spaced: int, every_tokens: float | None,
                     final: bool = True) -> list[int]:
    """The steps at which a run saves: log-spaced early steps, every K tokens, and the final step.

    Early checkpoints are log-spaced (as Pythia's and OLMo's are) because loss falls fastest there.
    """
    every = max(1, round(every_tokens / tokens_per_step)) if every_tokens else None
    steps: set[int] = set()
    if log_spaced > 0:
        horizon = min(every, total_steps) if every else max(1, total_steps // 4)
        k = 0
        early = sorted({max(1, int(round(horizon ** (i / log_spaced)))) for i in range(log_spaced)})
        while len(early) < log_spaced and k < horizon:  # tiny horizons: fill with the first steps
            k += 1
            early = sorted(set(early) | {k})
        steps.update(s for s in early if s <= total_steps)
    if every:
        steps.update(range(every, total_steps + 1, every))
    if final:
        steps.add(total_steps)
    return sorted(steps)


@dataclass
class TrainConfig:
    model: ModelConfig
    data_dir: str
    tokens: float  # this run's token budget; the schedule decays to it
    seq_len: int = 256
    global_batch_size: int = 32  # sequences per optimizer step, across all processes
    micro_batch_size: int = 8  # sequences per forward pass per process
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    checkpoints: CheckpointPlan = field(default_factory=CheckpointPlan)
    seed: int = 1234
    val_tokens: int = 65536  # fixed validation sample, identical for every rung of a ladder
    val_batch_size: int = 16
    log_interval: int = 10
    loss_ema: float = 0.9  # smoothing of the reported train loss
    device: str = "auto"  # auto, cpu, cuda
    precision: str = "auto"  # auto (fp32 on CPU, bf16 autocast on GPU), fp32, bf16
    compile: bool = False
    parallel: str = "auto"  # auto (DDP when several processes), ddp, fsdp
    name: str = "run"
    log_to: list[str] = field(default_factory=list)  # besides metrics.jsonl: "tensorboard", "wandb" (optional extras)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check_fields(self, "")
        self.model.validate()
        self.schedule.validate()
        _check_fields(self.optim, "optim.")
        _check_fields(self.checkpoints, "checkpoints.")
        if not (self.optim.lr > 0 and self.optim.eps > 0 and self.optim.weight_decay >= 0 and self.optim.grad_clip >= 0):
            raise ConfigError(f"optim.lr and optim.eps must be positive, weight_decay and grad_clip not negative: {self.optim}")
        if len(self.optim.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.optim.betas):
            raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {self.optim.betas!r}")
        for what in ("seq_len", "global_batch_size", "micro_batch_size", "val_tokens", "val_batch_size", "log_interval"):
            if getattr(self, what) <= 0:
                raise ConfigError(f"{what} must be positive, got {getattr(self, what)}")
        check_name(self.name, "name")
        check_name(self.data_dir, "data_dir")
        if self.seq_len > self.model.max_seq_len:
            raise ConfigError(
                f"seq_len={self.seq_len} exceeds model.max_seq_len={self.model.max_seq_len}; "
                "lower seq_len or raise max_seq_len"
            )
        if self.tokens <= 0:
            raise ConfigError(f"tokens must be positive, got {self.tokens}")
        if self.global_batch_size % self.micro_batch_size:
            raise ConfigError(
                f"global_batch_size={self.global_batch_size} is not a multiple of "
                f"micro_batch_size={self.micro_batch_size}"
            )
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.parallel not in ("auto", "ddp", "fsdp"):
            raise ConfigError(f"parallel must be auto, ddp or fsdp, got {self.parallel!r}")
        if set(self.log_to) - {"tensorboard", "wandb"}:
            raise ConfigError(f"log_to may name tensorboard and wandb, got {self.log_to!r} (metrics.jsonl is always written)")

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch_size * self.seq_len

    @property
    def total_steps(self) -> int:
        return max(1, -(-int(self.tokens) // self.tokens_per_step))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        raw = dict(raw)
        try:
            model = ModelConfig(**raw.pop("model"))
            optim = raw.pop("optim", {}) or {}
            if "betas" in optim:
                optim["betas"] = tuple(optim["betas"])
            return cls(
                model=model,
                optim=OptimConfig(**optim),
                schedule=ScheduleConfig(**(raw.pop("schedule", {}) or {})),
                checkpoints=CheckpointPlan(**(raw.pop("checkpoints", {}) or {})),
                **raw,
            )
        except KeyError as err:
            raise ConfigError(f"config is missing the section {err}; see trainer/specs/*.yaml for examples") from None
        except TypeError as err:
            raise ConfigError(f"config has an unknown or missing field: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        raw = read_yaml_file(path, "config file")
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} does not hold a mapping")
        raw.pop("provenance", None)
        try:
            return cls.from_dict(raw)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err.message}") from None

