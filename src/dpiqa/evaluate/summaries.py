"""Summaries of scored tables: per distortion, against the labels alone, over split seeds.

Plain pandas and scipy, no models: the report stage reads these without importing torch.
"""

from __future__ import annotations

import statistics

import pandas as pd

from dpiqa.evaluate.metrics import agreement

MODELS = ("teacher", "student")


def per_distortion(frame: pd.DataFrame, models: tuple[str, ...] = MODELS) -> pd.DataFrame:
    """SRCC per distortion type (synthetic sets): where each model ranks quality well or not."""
    rows = []
    for distortion, group in frame.dropna(subset=["distortion"]).groupby("distortion"):
        if group["mos"].nunique() < 3:
            continue
        row = {"distortion": distortion, "images": len(group)}
        row.update({name: agreement(group[name].to_numpy(), group["mos"].to_numpy())["srcc"] for name in models})
        rows.append(row)
    return pd.DataFrame(rows)


def labels_only_srcc(train: pd.DataFrame, test: pd.DataFrame) -> float | None:
    """What the labels allow without looking at an image: the test SRCC of scoring each image the
    mean training label of its distortion type and level (synthetic sets; None where there are no
    types). A model far below it has not learnt to tell the distortions and their levels apart."""
    if test["distortion"].isna().all():
        return None

    def type_and_level(frame: pd.DataFrame) -> pd.MultiIndex:  # pristine images (no type) are a group too
        return pd.MultiIndex.from_frame(frame[["distortion", "distortion_level"]].astype(object).fillna("none"))

    means = train["mos"].groupby(type_and_level(train)).mean()
    scored = means.reindex(type_and_level(test)).fillna(train["mos"].mean())
    return float(agreement(scored.to_numpy(), test["mos"].to_numpy())["srcc"])


def _spread(values: list[float | None]) -> dict[str, float | None]:
    """Median and range of the defined values (a collapsed model's correlation is null)."""
    defined = [value for value in values if value is not None]
    if not defined:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(defined), "min": min(defined), "max": max(defined)}


def aggregate(results: list[dict]) -> dict:
    """Median and range over seeds of each model's test SRCC and PLCC, and of their agreement."""
    if not results:
        raise ValueError("no split seed results to aggregate")
    values = {f"{name}_{key}": [r[name][key] for r in results] for name in MODELS for key in ("srcc", "plcc")}
    values["agreement"] = [r["agreement"] for r in results]
    return {"seeds": [r["seed"] for r in results], **{key: _spread(v) for key, v in values.items()}}
