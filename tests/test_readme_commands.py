"""Every command the README prints for a finished study runs exactly as printed.

The commands are read from README.md itself (the fenced block under "## Explore a finished study"), so the
README and this test cannot drift apart, and each runs verbatim through bash in a fresh directory where
`study-tiny` is the smoke preset's finished study (the session's smoke_study fixture, tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HEADING = "## Explore a finished study"


def readme_block(heading: str = HEADING) -> list[str]:
    """The command lines of the first ```bash block under `heading` (comments and blank lines dropped)."""
    text = (REPO / "README.md").read_text()
    assert heading in text, f"README.md has no section {heading!r}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"no ```bash block under {heading!r}"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def run_bash(line: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """One printed line through bash, with the project's console scripts first on PATH (as in its venv)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def test_the_block_is_what_a_user_of_a_finished_study_needs():
    lines = readme_block()
    assert all("study-tiny" in line for line in lines), lines
    firsts = {" ".join(line.split()[:3]) for line in lines}
    assert {"emergent predict --holdout", "emergent predict --fits", "emergent fit loss-curve", "emergent fit loss-law",
            "emergent passuntil summarize"} <= firsts


@pytest.mark.slow  # refits every law twice on the smoke study: about a minute on a busy 2-core machine
def test_readme_commands_run_as_printed(smoke_study, tmp_path):
    out, _ = smoke_study
    (tmp_path / "study-tiny").symlink_to(out, target_is_directory=True)
    prediction = json.loads((out / "prediction.json").read_text())
    for line in readme_block():
        done = run_bash(line, tmp_path)
        assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        words = line.split()
        if words[:3] == ["emergent", "predict", "--holdout"]:  # a backtest: prediction against measurement
            assert "actual" in done.stdout and "inside" in done.stdout
            assert all(key[:34] in done.stdout for key in prediction["tasks"])
        elif words[:2] == ["emergent", "predict"]:
            assert done.stdout.startswith("Prediction for N = 1e+06, D = 2e+07"), done.stdout[:300]
        elif words[:2] == ["emergent", "fit"]:
            written = tmp_path / words[words.index("--out") + 1]
            fits = json.loads(written.read_text())
            assert fits.get("loss_curves") or fits.get("loss_law") or fits.get("task_laws"), sorted(fits)
            if "--plot" in words:
                assert (tmp_path / words[words.index("--plot") + 1] / "performance_vs_loss.png").stat().st_size > 0
        else:  # passuntil summarize: one row per task and run
            for rec_file in sorted((out / "passuntil").glob("*.jsonl")):
                assert rec_file.stem in done.stdout
