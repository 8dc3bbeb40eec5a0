"""MLflow runs for pipeline stages: where they go, how they are grouped, what they carry.

Every stage run is a child of one parent run per pipeline run (tag `dpiqa.pipeline_id`: the
git commit and params.yaml, or DPIQA_PIPELINE_RUN when set), so a reviewer sees one `dvc repro`
as a unit. Each run is tagged with the git commit and the DVC hashes of the data it read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
import tenacity
import yaml
from lightning_utilities.core.rank_zero import rank_zero_only
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sqlalchemy.exc import OperationalError

from dpiqa.config import PARAMS_FILE, TrackingParams
from dpiqa.tracking.store import DEFAULT_ARTIFACTS, DEFAULT_TRACKING_URI, reachable_tracking_uri, tracking_uri

if TYPE_CHECKING:
    from lightning.pytorch.loggers import MLFlowLogger

log = logging.getLogger(__name__)

PIPELINE_TAG = "dpiqa.pipeline_id"
KIND_TAG = "dpiqa.kind"
MAX_PARAM_LENGTH = 6000
LOCK_FILE = "dvc.lock"
FIRST_RETRY_DELAY_S, LONGEST_RETRY_DELAY_S = 0.5, 10.0
# Where Lightning reads a process's rank at import, in its order (lightning.fabric.utilities.rank_zero)
LAUNCHER_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def _database_locked(error: BaseException) -> bool:
    return isinstance(error, (MlflowException, OperationalError)) and "database is locked" in str(error)


def retry_when_locked(action: Callable, patience_s: float):
    """Run an MLflow call; while another process holds the SQLite database locked (MLflow itself
    waits 20 s, then raises), try again with backoff until `patience_s` has passed."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_database_locked),
        stop=tenacity.stop_before_delay(patience_s),
        wait=tenacity.wait_exponential(multiplier=FIRST_RETRY_DELAY_S, max=LONGEST_RETRY_DELAY_S),
        before_sleep=lambda state: log.warning(
            "the MLflow database is locked by another process; retrying in %.1f s", state.upcoming_sleep),
        reraise=True,
    )
    return retrying(action)


def is_rank_zero() -> bool:
    """False in the extra processes a distributed run starts (any launcher, any node).

    Lightning's own rank (RANK, LOCAL_RANK, SLURM_PROCID, ... as its launchers and torchrun set
    them), and the node: before a Trainer exists, the first process of node 2 reads rank 0 there.
    A stage that never imports Lightning (it costs seconds) reads the same variables Lightning would.
    """
    rank = getattr(rank_zero_only, "rank", None)
    if rank is None:
        rank = next((int(os.environ[key]) for key in LAUNCHER_RANK_VARIABLES if key in os.environ), 0)
    return rank == 0 and int(os.environ.get("NODE_RANK", "0")) == 0


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        # dvc.lock changes after every stage of a run: it must not split one run into several.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!dvc.lock"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def pipeline_id(params_file: Path = Path(PARAMS_FILE)) -> str:
    explicit = os.environ.get("DPIQA_PIPELINE_RUN")
    if explicit:
        return explicit
    digest = hashlib.sha256(git_commit().encode() + params_file.read_bytes()).hexdigest()
    return digest[:16]


def lock_hashes(lock_file: Path = Path(LOCK_FILE)) -> dict[tuple[str, str], str]:
    """(stage, output path) -> the md5 DVC recorded in dvc.lock for it."""
    if not lock_file.exists():
        return {}
    lock = yaml.safe_load(lock_file.read_text()) or {}
    return {
        (stage, Path(out["path"]).as_posix()): out.get("md5", "")
        for stage, entry in lock.get("stages", {}).items()
        for out in entry.get("outs", [])
    }


def dvc_hashes(paths: list[Path], lock_file: Path = Path(LOCK_FILE)) -> dict[str, str]:
    """DVC output -> its hash in dvc.lock, for the output holding each path (the path itself, or
    the tracked folder it lies in: a split file gives its split folder's hash)."""
    recorded = {path: digest for (_, path), digest in lock_hashes(lock_file).items()}
    hashes = {}
    for path in map(Path, paths):
        output = next((p.as_posix() for p in (path, *path.parents) if p.as_posix() in recorded), None)
        if output is not None:
            hashes[output] = recorded[output]
    return hashes


def flatten(nested: Mapping) -> dict[str, object]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: MLflow's flat names for nested params and metrics."""
    return pd.json_normalize(dict(nested), sep=".").iloc[0].to_dict() if nested else {}


def _param_values(nested: Mapping) -> dict[str, str]:
    return {name: value if isinstance(value, str) else json.dumps(value, default=str)[:MAX_PARAM_LENGTH]
            for name, value in flatten(nested).items()}


def experiment_id(name: str) -> str:
    """The experiment's id, created on first use (the project's artifact folder with the local store)."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if tracking_uri() == DEFAULT_TRACKING_URI:
        location = Path(DEFAULT_ARTIFACTS).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as error:  # another pipeline created it since we looked (a shared server)
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


def _parent_run(experiment_id: str, group: str, commit: str) -> str:
    client = MlflowClient()
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PIPELINE_TAG}` = '{group}' and tags.`{KIND_TAG}` = 'pipeline'",
        max_results=1,
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"pipeline {group}",
        tags={PIPELINE_TAG: group, KIND_TAG: "pipeline", "git.commit": commit},
    )
    return run.info.run_id


@dataclass
class StageTracker:
    """What a stage records in its MLflow run; every method is a no-op off rank zero."""

    run: mlflow.ActiveRun | None
    tracking: TrackingParams

    def _retried(self, action: Callable) -> None:
        retry_when_locked(action, self.tracking.locked_retry_s)

    def lightning_logger(self) -> MLFlowLogger | bool:
        if self.run is None:
            return False
        from dpiqa.tracking.lightning_logger import RetryingMLFlowLogger  # Lightning only where it trains

        return RetryingMLFlowLogger(
            experiment_name=self.tracking.experiment, tracking_uri=tracking_uri(), run_id=self.run.info.run_id,
            patience_s=self.tracking.locked_retry_s,
        )

    def log_dataset(self, frame: pd.DataFrame, source: Path, name: str, context: str) -> None:
        """Record a table the stage read (mlflow.log_input), identified by its DVC hash."""
        if self.run is None:
            return
        digest = next(iter(dvc_hashes([source]).values()), None)
        dataset = mlflow.data.from_pandas(frame, source=str(source), name=name, digest=digest[:36] if digest else None)
        self._retried(lambda: mlflow.log_input(dataset, context=context))

    def log_artifacts(self, paths: list[Path], folder: str | None = None) -> None:
        if self.run is None:
            return
        for path in map(Path, paths):
            if path.is_dir():
                target = f"{folder}/{path.name}" if folder else path.name
                self._retried(lambda path=path, target=target: mlflow.log_artifacts(str(path), artifact_path=target))
            else:
                self._retried(lambda path=path: mlflow.log_artifact(str(path), artifact_path=folder))

    def log_metrics(self, metrics: Mapping) -> None:
        """Numeric leaves of a (nested) mapping, as `teacher.embedded.srcc`-style names; lists
        (confidence intervals) and text are left to the metrics files."""
        numeric = {name: float(value) for name, value in flatten(metrics).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)}
        if self.run is not None:
            self._retried(lambda: mlflow.log_metrics(numeric))


@contextmanager
def stage_run(
    stage: str,
    tracking: TrackingParams,
    params: Mapping,
    data: list[Path] = (),
    params_file: Path = Path(PARAMS_FILE),
) -> Iterator[StageTracker]:
    """An MLflow run for one stage, nested in its pipeline run (nothing outside rank zero).

    `params` are logged flattened; `data` lists the DVC outputs the stage read (their hashes
    become tags `dvc.<path>`). Every write rides out a locked database (tracking.locked_retry_s).
    """
    if not is_rank_zero():
        yield StageTracker(None, tracking)
        return

    def retried(action: Callable):
        return retry_when_locked(action, tracking.locked_retry_s)

    mlflow.set_tracking_uri(reachable_tracking_uri())
    experiment = retried(lambda: experiment_id(tracking.experiment))
    commit, group = git_commit(), pipeline_id()
    parent = retried(lambda: _parent_run(experiment, group, commit))
    hashes = dvc_hashes(list(data))
    tags = {PIPELINE_TAG: group, KIND_TAG: "stage", "dpiqa.stage": stage, "git.commit": commit}
    tags.update({f"dvc.{path}": digest for path, digest in hashes.items()})
    run = retried(lambda: mlflow.start_run(experiment_id=experiment, run_name=stage, parent_run_id=parent, tags=tags))
    status = "FAILED"
    try:
        retried(lambda: mlflow.log_params(_param_values(params)))
        if params_file.exists():
            retried(lambda: mlflow.log_artifact(str(params_file)))
        yield StageTracker(run, tracking)
        status = "FINISHED"
    finally:
        # mlflow.end_run() leaves the active run before writing its status, so it cannot be
        # retried itself: write the status (retried), then leave the run; end_run's own second
        # write of the same status may meet a lock again, harmlessly.
        retried(lambda: MlflowClient().set_terminated(run.info.run_id, status))
        try:
            mlflow.end_run(status)
        except (MlflowException, OperationalError) as error:
            log.warning("run %s is %s; MLflow could not record it twice: %s", run.info.run_id, status, error)


def pipeline_runs(tracking: TrackingParams) -> dict[str, str]:
    """Stage name -> MLflow run id of the newest runs of this pipeline run (empty if none)."""
    mlflow.set_tracking_uri(reachable_tracking_uri())
    client = MlflowClient()

    def search() -> dict[str, str]:
        found = client.get_experiment_by_name(tracking.experiment)
        if found is None:
            return {}
        runs = client.search_runs(
            [found.experiment_id],
            filter_string=f"tags.`{PIPELINE_TAG}` = '{pipeline_id()}' and tags.`{KIND_TAG}` = 'stage'",
            order_by=["attributes.start_time ASC"],
        )
        return {run.data.tags["dpiqa.stage"]: run.info.run_id for run in runs}

    return retry_when_locked(search, tracking.locked_retry_s)
