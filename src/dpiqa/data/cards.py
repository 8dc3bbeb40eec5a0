"""Dataset cards (cards.yaml): nominal MOS scale, expected size, how it arrives, its parser.

Adding a dataset is a card plus the parser it names (and a data.sources section for its settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from dpiqa.errors import DPIQAError

if TYPE_CHECKING:
    from dpiqa.config import Params, StageView


@dataclass(frozen=True)
class DatasetCard:
    key: str
    name: str
    mos_range: tuple[float, float] | None
    label: str
    expected_count: int | None
    synthetic: bool
    source: str                  # how it arrives: generated | download | manual
    parser: str                  # the registered parser (dpiqa.data.sources) that builds its manifest
    homepage: str | None = None
    instructions: str | None = None
    distortion_names: list[str] = field(default_factory=list)


@cache
def cards() -> dict[str, DatasetCard]:
    text = resources.files("dpiqa.data").joinpath("cards.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {
        key: DatasetCard(
            key=key,
            **{**entry, "mos_range": tuple(entry["mos_range"]) if entry["mos_range"] else None},
        )
        for key, entry in raw.items()
    }


def card(key: str) -> DatasetCard:
    try:
        return cards()[key]
    except KeyError:
        raise DPIQAError(f"unknown dataset {key!r}; known: {', '.join(cards())}") from None


def nominal_mos_range(key: str, params: Params | StageView) -> tuple[float, float]:
    """The dataset's nominal MOS scale: from its card, or from its settings where the card leaves
    it open (a user's own folder)."""
    return tuple(card(key).mos_range or params.source(key).mos_range)
