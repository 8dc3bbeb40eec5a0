"""A team's servers for the tests: settings on free loopback ports, credentials, and the servers
themselves, always stopped afterwards (imported by tests/conftest.py)."""

from __future__ import annotations

import glob
import shutil
import tempfile
from pathlib import Path

import pytest

from dpiqa.config import TeamParams
from dpiqa.tracking import servers

from .network import free_port

CREDENTIALS = {"DPIQA_POSTGRES_PASSWORD": "team-secret", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing"}


def team_settings(folder: Path, artifacts: str = "local") -> TeamParams:
    return TeamParams(folder=folder, host="127.0.0.1", postgres_port=free_port(), postgres_user="dpiqa",
                      database="mlflow", mlflow_port=free_port(), artifacts=artifacts, s3_port=free_port(), bucket="dpiqa")


@pytest.fixture
def team_folder():
    """A folder PostgreSQL's own user can reach (pytest's tmp folders are private to root)."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") and not shutil.which("initdb"):
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="dpiqa-team-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder / "team"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def credentials(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def running_team(team_folder, credentials):
    """Every server up (MLflow's artifacts in the S3 bucket); all stopped afterwards, whatever happens."""
    team = team_settings(team_folder, artifacts="s3")
    try:
        servers.start(team)
        yield team
    finally:
        servers.stop(team)
