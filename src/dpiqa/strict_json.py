"""JSON as RFC 8259 has it, for every file and response the project writes: null, never NaN.

Python's json writes NaN and Infinity by default; strict parsers (JavaScript's JSON.parse, Go,
Rust) then reject the whole document.
"""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """NaN and infinities become null (RFC 8259 has no NaN); containers are walked, numpy scalars unwrapped."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    """Strict JSON: non-finite floats as null; anything else unserialisable raises instead of writing NaN."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
