"""Promotion gates, rollback and concurrent promotion on a real MLflow registry (sqlite)."""

import itertools
import multiprocessing

import pytest
from mlflow.tracking import MlflowClient

from dpiqa.config import PromoteParams, RegisterParams
from dpiqa.errors import DPIQAError
from dpiqa.registry.registry import (
    DECIDED_AGAINST_TAG,
    DECISION_TAG,
    FAILED_GATES_TAG,
    promote,
    registry_lock,
    rollback,
)

ALIASES = RegisterParams(out="unused.json", teacher_name="t", student_name="s", prior_name="p", challenger_alias="challenger",
                         champion_alias="champion", previous_alias="previous-champion")
GATES = PromoteParams(srcc_margin=0.02, teacher_margin=0.05, max_latency_s=1.0)
_names = itertools.count()


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"


@pytest.fixture
def client(tracking_uri):
    return MlflowClient(tracking_uri=tracking_uri)


def _version(client, name, alias=None, **tags):
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, source="file:///nowhere").version
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


@pytest.fixture
def name():
    return f"model-{next(_names)}"


def _champion(client, name):
    return client.get_model_version_by_alias(name, "champion").version


def test_a_first_challenger_becomes_champion(client, name):
    version = _version(client, name, "challenger", test_srcc=0.8, latency_s=0.1)
    decision = promote(client, name, ALIASES, GATES)
    assert decision.promoted and _champion(client, name) == version


def test_a_worse_challenger_is_refused_saying_by_how_much(client, name):
    champion = _version(client, name, "champion", test_srcc=0.80, latency_s=0.1)
    _version(client, name, "challenger", test_srcc=0.70, latency_s=0.1)
    decision = promote(client, name, ALIASES, GATES)
    assert not decision.promoted and _champion(client, name) == champion
    assert "below the champion's 0.8000 minus the margin 0.02 by 0.0800" in decision.describe()


def test_a_challenger_within_the_margin_is_promoted_and_the_old_champion_recorded(client, name):
    old = _version(client, name, "champion", test_srcc=0.80, latency_s=0.1)
    new = _version(client, name, "challenger", test_srcc=0.79, latency_s=0.1)
    assert promote(client, name, ALIASES, GATES).promoted
    assert _champion(client, name) == new
    assert client.get_model_version_by_alias(name, "previous-champion").version == old


def test_a_student_far_below_its_teacher_is_refused(client, name):
    _version(client, name, "challenger", test_srcc=0.70, teacher_test_srcc=0.80, latency_s=0.1)
    decision = promote(client, name, ALIASES, GATES)
    assert not decision.promoted
    assert "more than 0.05 below its teacher's 0.8000 (short by 0.0500)" in decision.describe()


def test_an_undefined_srcc_is_refused(client, name):
    _version(client, name, "challenger", test_srcc="undefined", latency_s=0.1)
    decision = promote(client, name, ALIASES, GATES)
    assert not decision.promoted and "test SRCC is undefined" in decision.describe()


def test_a_slow_model_is_refused(client, name):
    _version(client, name, "challenger", test_srcc=0.9, latency_s=1.5)
    decision = promote(client, name, ALIASES, GATES)
    assert not decision.promoted and "exceeds the budget 1.0 s by 0.5000 s" in decision.describe()


def test_a_dry_run_changes_nothing(client, name):
    version = _version(client, name, "challenger", test_srcc=0.9, latency_s=0.1)
    decision = promote(client, name, ALIASES, GATES, dry_run=True)
    assert not decision.promoted and not decision.failures
    assert not client.get_registered_model(name).aliases.get("champion")
    assert DECISION_TAG not in client.get_model_version(name, version).tags


def test_each_decision_is_recorded_on_the_version(client, name):
    champion = _version(client, name, "champion", test_srcc=0.80, latency_s=0.1)
    refused = _version(client, name, "challenger", test_srcc=0.70, latency_s=1.5)
    promote(client, name, ALIASES, GATES)
    tags = client.get_model_version(name, refused).tags
    assert tags[DECISION_TAG] == "refused" and tags[DECIDED_AGAINST_TAG] == str(champion)
    assert "below the champion's" in tags[FAILED_GATES_TAG] and "exceeds the budget" in tags[FAILED_GATES_TAG]
    promoted = _version(client, name, "challenger", test_srcc=0.85, latency_s=0.1)
    promote(client, name, ALIASES, GATES)
    tags = client.get_model_version(name, promoted).tags
    assert tags[DECISION_TAG] == "promoted" and tags[FAILED_GATES_TAG] == ""


def test_rollback_restores_the_previous_champion(client, name):
    old = _version(client, name, "champion", test_srcc=0.80, latency_s=0.1)
    _version(client, name, "challenger", test_srcc=0.85, latency_s=0.1)
    promote(client, name, ALIASES, GATES)
    message = rollback(client, name, ALIASES)
    assert _champion(client, name) == old and f"to {old}" in message
    with pytest.raises(DPIQAError, match="no 'previous-champion' version"):
        rollback(client, name, ALIASES)


def _promote_in_process(tracking_uri, name, results, barrier=None):
    client = MlflowClient(tracking_uri=tracking_uri)
    if barrier is not None:
        barrier.wait()  # start both promotions at the same instant
    results.put(promote(client, name, ALIASES, GATES).promoted)


def test_two_promotions_at_once_leave_the_registry_consistent(client, tracking_uri, name):
    old = _version(client, name, "champion", test_srcc=0.80, latency_s=0.1)
    new = _version(client, name, "challenger", test_srcc=0.85, latency_s=0.1)
    context = multiprocessing.get_context("spawn")
    results, barrier = context.Queue(), context.Barrier(2)
    workers = [context.Process(target=_promote_in_process, args=(tracking_uri, name, results, barrier))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    outcomes = sorted(results.get(timeout=5) for _ in workers)
    assert outcomes == [False, True]  # one promoted, the other found it already done
    assert _champion(client, name) == new
    assert client.get_model_version_by_alias(name, "previous-champion").version == old


def test_a_promotion_waits_while_another_holds_the_registry(client, tracking_uri, name):
    _version(client, name, "challenger", test_srcc=0.85, latency_s=0.1)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_promote_in_process, args=(tracking_uri, name, results))
    with registry_lock(tracking_uri):
        worker.start()
        worker.join(8)
        assert worker.is_alive() and results.empty()  # blocked on the lock
    worker.join(120)
    assert results.get(timeout=5) is True
