"""Every document the code points to is inside the repository: a clone has what its comments cite."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contracts", "trainer", "lm_eval_tasks", "passuntil", "analysis", "study", "emergent", "benchmarks", "tests")


def test_cited_documents_exist_and_none_lies_outside_the_clone():
    cited, outside = set(), []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            cited |= set(re.findall(r"\b(docs/[A-Z][A-Z_]*\.md|README\.md|CHANGELOG\.md)\b", text))
            outside += [f"{path.relative_to(ROOT)}: {m}" for m in re.findall(r"\.\./shared/DESIGN\.md|notes/" + "CONTRACTS", text)]
    assert outside == []
    missing = sorted(name for name in cited if not (ROOT / name).is_file() and not (ROOT / "docs" / name).is_file())
    assert missing == [], missing
    assert "docs/CONTRACTS.md" in cited
