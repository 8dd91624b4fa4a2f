"""The one normaliser for numeric answers (GSM8K-style), shared by lm_eval_tasks and passuntil.

Numbers compare as canonical decimal strings: "$1,234.50" -> "1234.5", "18.0" -> "18", "-3" -> "-3".
Decimal arithmetic, not float, so large integers keep every digit.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# A number token: digits with optional thousands commas and decimals, or a bare decimal fraction.
_NUMBER = re.compile(r"-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")
_DECORATION = str.maketrans("", "", "$,，")  # currency sign, ASCII and full-width thousands commas


def _canonical(token: str) -> str | None:
    try:
        value = Decimal(token.translate(_DECORATION))
    except InvalidOperation:
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def normalize_number(text: str) -> str | None:
    """The canonical form of a text that is one number (with "$", thousands commas, a trailing period
    or spaces allowed); None when it holds no number or several."""
    found = _NUMBER.findall(text.replace("，", ","))
    if len(found) != 1:
        return None
    return _canonical(found[0])


def last_number(text: str | int | float) -> str | None:
    """The canonical form of the last number in a free text (a model's answer); None when there is none."""
    found = _NUMBER.findall(str(text).replace("，", ","))
    return _canonical(found[-1]) if found else None
