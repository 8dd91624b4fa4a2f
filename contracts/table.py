"""The one plain-text table printer: a header, a rule, aligned rows (every command that prints a table uses it)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None,
                 gap: str = "  ", rule: bool = True) -> str:
    """Columns as wide as their widest cell; align is one letter per column, 'l' or 'r' (default: first
    column left, the others right). Cells are str()-ed, so format numbers before passing them."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    ncols = len(header)
    if any(len(row) != ncols for row in cells):
        raise ValueError(f"every row needs {ncols} cells")
    align = align or "l" + "r" * (ncols - 1)
    if len(align) != ncols or set(align) - {"l", "r"}:
        raise ValueError(f"align needs one of 'l'/'r' per column ({ncols}), got {align!r}")
    widths = [max(len(row[i]) for row in cells) for i in range(ncols)]

    def line(row: list[str]) -> str:
        return gap.join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    lines = [line(cells[0])]
    if rule:
        lines.append(gap.join("-" * w for w in widths))
    lines += [line(row) for row in cells[1:]]
    return "\n".join(lines)
