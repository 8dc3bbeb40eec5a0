"""The MLflow model registry: register challengers, promote them through gates, roll back.

Aliases, not the deprecated stages: `challenger` is the newest registered version, `champion`
the one users score with, `previous-champion` the one `rollback` restores. Every change of the
aliases happens under an exclusive lock, so two promotions at once cannot interleave.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from dpiqa.config import Params, PromoteParams, RegisterParams, RegisterView
from dpiqa.errors import DPIQAError
from dpiqa.registry.pyfunc import log_pyfunc

LOCK_TIMEOUT_S = 120
UNDEFINED = "undefined"  # the tag of a metric metrics.json holds as null (constant predictions)
# Tags a promotion leaves on the challenger version.
DECISION_TAG, FAILED_GATES_TAG, DECIDED_AGAINST_TAG = "promotion.decision", "promotion.failed_gates", "promotion.champion_before"


@dataclass
class Decision:
    model: str
    challenger: str | None
    champion_before: str | None
    promoted: bool
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.promoted:
            return f"{self.model}: version {self.challenger} is now champion (was {self.champion_before or 'none'})"
        lines = [f"{self.model}: version {self.challenger} NOT promoted; champion stays {self.champion_before or 'none'}"]
        lines += [f"  - {failure}" for failure in self.failures]
        return "\n".join(lines + [f"  ({note})" for note in self.notes])


def registry_lock(tracking_uri: str) -> FileLock:
    """One lock per registry (tracking URI), shared by every process on this machine."""
    key = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"dpiqa-registry-{key}.lock", timeout=LOCK_TIMEOUT_S)


def _alias_version(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _tag(version, key: str) -> float | None:
    value = version.tags.get(key) if version else None
    return float(value) if value not in (None, "", UNDEFINED) else None


def gate_failures(challenger, champion, gates: PromoteParams) -> list[str]:
    """Each failed gate, with by how much it failed."""
    failures = []
    if challenger.tags.get("test_srcc") == UNDEFINED:
        return ["the challenger's test SRCC is undefined: its test predictions do not vary"]
    srcc = _tag(challenger, "test_srcc")
    if srcc is None:
        return ["the challenger has no test_srcc tag: run the evaluate and register stages"]
    champion_srcc = _tag(champion, "test_srcc")
    if champion_srcc is not None and srcc < champion_srcc - gates.srcc_margin:
        failures.append(
            f"test SRCC {srcc:.4f} is below the champion's {champion_srcc:.4f} minus the margin "
            f"{gates.srcc_margin} by {champion_srcc - gates.srcc_margin - srcc:.4f}"
        )
    teacher_srcc = _tag(challenger, "teacher_test_srcc")
    if teacher_srcc is not None and srcc < teacher_srcc - gates.teacher_margin:
        failures.append(
            f"test SRCC {srcc:.4f} is more than {gates.teacher_margin} below its teacher's "
            f"{teacher_srcc:.4f} (short by {teacher_srcc - gates.teacher_margin - srcc:.4f})"
        )
    latency = _tag(challenger, "latency_s")
    if latency is not None and latency > gates.max_latency_s:
        failures.append(
            f"latency {latency:.4f} s/image exceeds the budget {gates.max_latency_s} s by "
            f"{latency - gates.max_latency_s:.4f} s"
        )
    return failures


def promote(client: MlflowClient, name: str, aliases: RegisterParams, gates: PromoteParams, *, dry_run: bool = False) -> Decision:
    with registry_lock(client.tracking_uri):
        challenger = _alias_version(client, name, aliases.challenger_alias)
        champion = _alias_version(client, name, aliases.champion_alias)
        decision = Decision(name, challenger.version if challenger else None, champion.version if champion else None, False)
        if challenger is None:
            decision.failures.append(f"no version has the alias {aliases.challenger_alias!r}; run `dvc repro` first")
            return decision
        if champion is not None and champion.version == challenger.version:
            decision.notes.append("the challenger already is the champion")
            return decision
        decision.failures = gate_failures(challenger, champion, gates)
        if dry_run:
            if not decision.failures:
                decision.notes.append("dry run: every gate passed, nothing changed")
            return decision
        if not decision.failures:
            if champion is not None:
                client.set_registered_model_alias(name, aliases.previous_alias, champion.version)
            client.set_registered_model_alias(name, aliases.champion_alias, challenger.version)
            decision.promoted = True
        _record(client, decision)
        return decision


def _record(client: MlflowClient, decision: Decision) -> None:
    """The decision on the version itself: a refused challenger says why in the registry, not
    only in a terminal that has since closed."""
    tags = {
        DECISION_TAG: "promoted" if decision.promoted else "refused",
        FAILED_GATES_TAG: "; ".join(decision.failures),
        DECIDED_AGAINST_TAG: decision.champion_before or "",
    }
    for key, value in tags.items():
        client.set_model_version_tag(decision.model, decision.challenger, key, value)


def rollback(client: MlflowClient, name: str, aliases: RegisterParams) -> str:
    """Make the previous champion the champion again; returns a message."""
    with registry_lock(client.tracking_uri):
        previous = _alias_version(client, name, aliases.previous_alias)
        champion = _alias_version(client, name, aliases.champion_alias)
        if previous is None:
            raise DPIQAError(f"{name}: no {aliases.previous_alias!r} version to roll back to")
        client.set_registered_model_alias(name, aliases.champion_alias, previous.version)
        client.delete_registered_model_alias(name, aliases.previous_alias)
        return f"{name}: champion rolled back from version {champion.version if champion else 'none'} to {previous.version}"


def register_models(client: MlflowClient, params: Params | RegisterView, summary: dict, cost: dict,
                    tags: dict[str, str]) -> dict:
    """Log teacher and student as pyfunc models, register new versions, tag them, alias challenger."""
    params = RegisterView.of(params)
    dataset, aliases = params.base.dataset, params.register_
    registered: dict[str, dict] = {}
    for kind, out, name in (
        ("teacher", params.train_teacher.out, aliases.teacher_name),
        ("student", params.distill_student.out, aliases.student_name),
    ):
        version = log_pyfunc(out, name, kind, params.score).registered_model_version
        scores = summary[kind][dataset]
        version_tags = {
            "dataset": dataset,
            "test_srcc": scores["srcc"],
            "test_plcc": scores["plcc"],
            "test_plcc_logistic": scores["plcc_logistic"],
            "latency_s": cost[kind]["latency_scoring_s"],
            "parameters": cost[kind]["parameters"],
            **tags,
        }
        if kind == "student":
            version_tags["teacher_test_srcc"] = summary["teacher"][dataset]["srcc"]
            version_tags["teacher_version"] = registered["teacher"]["version"]
        for key, value in version_tags.items():
            client.set_model_version_tag(name, version, key, UNDEFINED if value is None else str(value))
        with registry_lock(client.tracking_uri):
            client.set_registered_model_alias(name, aliases.challenger_alias, version)
        registered[kind] = {"name": name, "version": str(version), "uri": f"models:/{name}@{aliases.challenger_alias}"}
    return registered
