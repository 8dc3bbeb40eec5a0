"""Every DVC stage declares what it reads: the params each stage read at run time (traced in the
real `dvc repro` of the trained project, tests/params_trace) against dvc.yaml, with no second
list kept by hand. What workspace.yaml sets (paths, machine settings) is untracked by design."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dpiqa.config import WORKSPACE_FILE, read_settings
from dpiqa.tracking.runs import flatten

from ..projects import PARAMS_TRACE

TEMPLATE = re.compile(r"\$\{([^}]+)\}")


def _lookup(params: dict, dotted: str):
    value = params
    for key in dotted.split("."):
        value = value[key]
    return value


def _resolve(text: str, params: dict, item: str | None) -> str:
    return TEMPLATE.sub(lambda m: item if m.group(1) == "item" else str(_lookup(params, m.group(1))), text)


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (_strings(key) + _strings(value))]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def declared(project: Path) -> dict[str, set[str]]:
    """Stage name -> the params it may read: its `params` entries, and every param its command,
    dependencies and outputs are templated from (a path DVC already tracks as a dependency)."""
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    params = read_settings(project / "params.yaml")
    stages = {}
    for name, stage in pipeline.items():
        if "foreach" in stage:
            items = _lookup(params, TEMPLATE.fullmatch(stage["foreach"]).group(1))
            expanded = {f"{name}@{item}": (stage["do"], item) for item in items}
        else:
            expanded = {name: (stage, None)}
        for stage_name, (body, item) in expanded.items():
            allowed = {_resolve(entry, params, item) for entry in body.get("params", [])}
            templated = {key for text in _strings({k: v for k, v in body.items() if k != "params"})
                         for key in TEMPLATE.findall(text) if key != "item"}
            stages[stage_name] = allowed | templated
    return stages


def untracked(project: Path) -> set[str]:
    """What no stage declares by design: every key workspace.yaml sets (paths, workers, tracking),
    and the params.yaml sections no stage declares (promote: read by `dpiqa promote` only)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    every_declared = {entry.split(".")[0] for entries in declared(project).values() for entry in entries}
    workspace = _keys(yaml.safe_load((project / WORKSPACE_FILE).read_text())) - _keys(params)
    return (set(params) - every_declared) | workspace


def _keys(tree: dict) -> set[str]:
    """Every dotted key of a nested mapping, sections and leaves."""
    return {".".join(parts[:depth]) for parts in map(lambda key: key.split("."), flatten(tree))
            for depth in range(1, len(parts) + 1)}


def test_every_stage_declares_every_param_it_reads(trained):
    operational = untracked(trained)
    assert {"promote", "tracking.experiment", "train_teacher.out"} <= operational
    assert "train" not in operational and "train_teacher.recipes" not in operational
    allowed = {stage: entries | operational for stage, entries in declared(trained).items()}
    traces = {path.stem: json.loads(path.read_text()) for path in (trained / PARAMS_TRACE).glob("*.json")}
    assert set(traces) == set(allowed), "every stage ran once under the tracer"
    undeclared = {
        stage: [read for read in reads if not any(read == ok or read.startswith(f"{ok}.") for ok in allowed[stage])]
        for stage, reads in traces.items()
    }
    assert not {stage: reads for stage, reads in undeclared.items() if reads}
    assert any(traces.values()), "the tracer recorded reads"
