"""Every DVC stage declares what it reads: the params each stage read at run time (traced in the
real `dvc repro` of the trained project, tests/params_trace) against dvc.yaml, with no second
list kept by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

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
    params = yaml.safe_load((project / "params.yaml").read_text())
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


def untracked_sections(project: Path) -> set[str]:
    """Top-level params sections no stage declares (tracking, serve, promote): operational by
    design, read by stages without being inputs of their outputs."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    every_declared = {entry.split(".")[0] for entries in declared(project).values() for entry in entries}
    return set(params) - every_declared


def test_every_stage_declares_every_param_it_reads(trained):
    operational = untracked_sections(trained)
    assert "tracking" in operational and "train" not in operational
    allowed = {stage: entries | operational for stage, entries in declared(trained).items()}
    traces = {path.stem: json.loads(path.read_text()) for path in (trained / PARAMS_TRACE).glob("*.json")}
    assert set(traces) == set(allowed), "every stage ran once under the tracer"
    undeclared = {
        stage: [read for read in reads if not any(read == ok or read.startswith(f"{ok}.") for ok in allowed[stage])]
        for stage, reads in traces.items()
    }
    assert not {stage: reads for stage, reads in undeclared.items() if reads}
    assert any(traces.values()), "the tracer recorded reads"
