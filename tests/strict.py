"""A JSON parser as strict as a browser's: NaN and Infinity are errors, not numbers."""

import json


def _refuse(constant: str):
    raise ValueError(f"{constant} is not JSON (RFC 8259)")


def strict_loads(text: str | bytes):
    return json.loads(text, parse_constant=_refuse)
