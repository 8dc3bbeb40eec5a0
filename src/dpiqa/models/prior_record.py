"""What a prior folder says of itself (prior.json): how it was trained, or why none was.

Light (no torch), so that the pretrain_prior stage of a profile without a prior starts in a second.
"""

from __future__ import annotations

import json
from pathlib import Path

from dpiqa.strict_json import dumps_json

PRIOR_INFO = "prior.json"  # how the prior was trained, or why the active profile trains none


def save_no_prior(folder: Path, reason: str) -> None:
    """The stage's output when the active profile starts from other weights: says why."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / PRIOR_INFO).write_text(dumps_json({"trained": False, "reason": reason}, indent=2))


def prior_info(folder: Path) -> dict:
    path = Path(folder) / PRIOR_INFO
    return json.loads(path.read_text()) if path.is_file() else {}
