"""JSON for API_Meter bodies with money written exactly.

The standard encoder cannot write a Decimal as a JSON number without going through float, which
would turn 0.1 into 0.1000000000000000055511151231257827. This encoder writes the Decimal's own
digits, and refuses floats outright so that binary money can never slip into a body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """The exact value as a plain JSON number: no exponent, no trailing zeros, "0" for any zero."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number and cannot be sent as an amount")
    if value == 0:
        return "0"
    # Not Decimal.normalize(): it rounds to the context precision (28 digits), and DECIMAL(38,10) has 38.
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(decimal_text(value))
    elif isinstance(value, float):
        raise TypeError(f"float {value!r} in an API_Meter body: amounts must be Decimal, counts int")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            if position:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")


def encode_json(value: object) -> bytes:
    """Compact UTF-8 JSON of dicts, lists, str, int, bool, None and Decimal (exact)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
