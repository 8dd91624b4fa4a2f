"""Strict readers of gold labels: each accepts exactly the values its dataset's schema allows.

Python's `1 == True` (and `0 == False`) makes membership tests such as `label in (0, "true", True)`
accept the wrong value, so labels are compared by type and value here and anything else is refused.
"""
from __future__ import annotations


def class_index(label, names: list[str], task: str) -> int:
    """The index of a label given as a ClassLabel int (hub) or as one of its names (raw files)."""
    if type(label) is int and 0 <= label < len(names):  # noqa: E721 -- bool is an int subclass; refuse it
        return label
    if type(label) is str and label in names:  # noqa: E721
        return names.index(label)
    raise ValueError(f"{task}: label {label!r} is none of 0..{len(names) - 1} or {names} "
                     "(a test split's -1 has no gold answer; evaluate the validation split)")
