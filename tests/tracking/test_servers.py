"""A team's servers, started for real on loopback: PostgreSQL, the MLflow tracking server, moto's S3."""

from __future__ import annotations

import os
import urllib.request

import pytest

from dpiqa.errors import DPIQAError
from dpiqa.tracking import servers
from dpiqa.tracking.store import reachable_tracking_uri

from ..network import free_port, listening_addresses
from ..team import CREDENTIALS, team_settings


def test_servers_bind_loopback_start_and_stop_idempotently_and_leave_no_process(running_team):
    team = running_team
    assert servers.status(team) == {"postgres": True, "s3": True, "mlflow": True}
    groups = [int((team.folder / f"{name}.pid").read_text()) for name in ("s3", "mlflow")]
    assert all(_running_in(group) for group in groups), "each server runs in its own process group"
    postmaster = int((servers._postgres_dir(team) / "postmaster.pid").read_text().split()[0])
    for port in (team.postgres_port, team.s3_port, team.mlflow_port):
        assert listening_addresses(port) == {"127.0.0.1"}
    again = servers.start(team)
    assert all("already running" in line for line in again), again
    with urllib.request.urlopen(f"{servers.mlflow_uri(team)}/health", timeout=10) as response:
        assert response.read() == b"OK"
    stopped = servers.stop(team)
    assert [line.split(":")[1].strip() for line in stopped] == ["stopped"] * 3
    assert servers.status(team) == {"postgres": False, "s3": False, "mlflow": False}
    assert all("not running" in line for line in servers.stop(team))
    assert not any(listening_addresses(port) for port in (team.postgres_port, team.s3_port, team.mlflow_port))
    assert not any(_running_in(group) for group in groups) and not _live(postmaster)


def _live(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _running_in(group: int) -> list:
    """The live processes of a process group (zombies are dead: a container's init may not reap them)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == group and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def test_runs_live_in_postgres_survive_a_restart_and_need_the_password(running_team):
    import mlflow
    import psycopg2

    team = running_team
    client = mlflow.MlflowClient(tracking_uri=servers.mlflow_uri(team))
    experiment = client.create_experiment("restart-check")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "srcc", 0.5)
    servers.stop(team, ["mlflow"])
    servers.stop(team, ["postgres"])
    servers.start(team, ["postgres", "mlflow"])
    assert client.get_run(run.info.run_id).data.metrics == {"srcc": 0.5}
    with psycopg2.connect(host=team.host, port=team.postgres_port, user=team.postgres_user,
                          password=CREDENTIALS["DPIQA_POSTGRES_PASSWORD"], dbname=team.database) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run.info.run_id,))
            assert cursor.fetchone() == (1,)
    connection.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=team.host, port=team.postgres_port, user=team.postgres_user, password="guess",
                         dbname=team.database, connect_timeout=5)


def test_missing_credentials_are_named_before_anything_starts(team_folder, monkeypatch):
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    team = team_settings(team_folder)
    for service, variable in (("postgres", "DPIQA_POSTGRES_PASSWORD"), ("mlflow", "DPIQA_POSTGRES_PASSWORD"),
                              ("s3", "AWS_ACCESS_KEY_ID")):
        with pytest.raises(DPIQAError, match=variable):
            servers.start(team, [service])
    assert not team_folder.exists() or not any(team_folder.iterdir())


def test_a_taken_port_is_named(team_folder, credentials):
    import socket

    team = team_settings(team_folder)
    with socket.socket() as squatter:
        squatter.bind((team.host, team.s3_port))
        squatter.listen()
        with pytest.raises(DPIQAError, match=f"port {team.s3_port}.*team.s3_port"):
            servers.start(team, ["s3"])
    assert servers.status(team)["s3"] is False


def test_an_unreachable_tracking_server_is_one_clear_error(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(DPIQAError, match=rf"no MLflow tracking server answers at {uri}.*make server"):
        reachable_tracking_uri()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert reachable_tracking_uri() == "sqlite:///mlflow.db"


def test_unknown_services_are_refused():
    with pytest.raises(DPIQAError, match="unknown service"):
        servers.wanted(["postgres", "redis"])
    assert servers.wanted(["mlflow", "postgres"]) == ["postgres", "mlflow"]
