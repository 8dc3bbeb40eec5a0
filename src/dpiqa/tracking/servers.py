"""A team's servers on this machine: PostgreSQL (MLflow's backend store), the MLflow tracking
server, and an S3-compatible object store (moto's server mode) for MLflow artifacts and a DVC remote.

Each runs in the background with its pid file and log in `team.folder`; starting a running
server or stopping a stopped one changes nothing and says so. All bind to `team.host` (loopback
unless a user asks otherwise). PostgreSQL refuses to run as root, so under root it runs as the
`postgres` system user its Debian package creates. Credentials come from the environment only:
DPIQA_POSTGRES_PASSWORD for PostgreSQL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3.
moto keeps objects in memory: a stopped S3 server forgets them (a team's real S3 or MinIO takes
the same settings).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dpiqa.config import TeamParams
from dpiqa.errors import DPIQAError

PASSWORD_VARIABLE = "DPIQA_POSTGRES_PASSWORD"
S3_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
POSTGRES_SYSTEM_USER = "postgres"
SERVICES = ("postgres", "s3", "mlflow")  # start order; stop runs it backwards
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
POLL_S = 0.25


def mlflow_uri(team: TeamParams) -> str:
    return f"http://{team.host}:{team.mlflow_port}"


def s3_endpoint(team: TeamParams) -> str:
    return f"http://{team.host}:{team.s3_port}"


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _environment_value(name: str, why: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DPIQAError(f"{name} is not set: {why}. Export it (never write it into a tracked file).")
    return value


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if ready():
            return
        time.sleep(POLL_S)
    why = f"exited with code {process.returncode}" if process.poll() is not None else f"did not come up within {START_TIMEOUT_S} s"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise DPIQAError(f"{what} {why}" + (f"; the end of {log}:\n{tail}" if tail else ""))


# --- PostgreSQL -----------------------------------------------------------------------------

def _postgres_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise DPIQAError(f"PostgreSQL's `{name}` is not installed: install PostgreSQL 15 or newer (Debian: `apt-get install "
                         "postgresql`), or point MLFLOW_TRACKING_URI at a team server elsewhere")
    return found


def _as_postgres_user(command: list[str]) -> list[str]:
    """`command` as the postgres system user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", POSTGRES_SYSTEM_USER, "--", *command] if os.geteuid() == 0 else command


def _postgres_dir(team: TeamParams) -> Path:
    return (team.folder / "postgres").resolve()


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise DPIQAError(f"{what} failed ({' '.join(command[:6])} ...):\n{result.stderr.strip() or result.stdout.strip()}")


def _initialise_postgres(team: TeamParams, password: str) -> None:
    data = _postgres_dir(team)
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        if subprocess.run(_as_postgres_user(["test", "-w", str(data)])).returncode != 0:
            raise DPIQAError(f"PostgreSQL runs as the `{POSTGRES_SYSTEM_USER}` user (it refuses root) and cannot reach {data}: "
                             "make its parent folders world-executable (chmod o+x) or set team.folder elsewhere")
    with tempfile.NamedTemporaryFile("w", dir=data.parent, delete=True) as password_file:  # initdb wants data/ empty
        password_file.write(password)
        password_file.flush()
        if os.geteuid() == 0:
            shutil.chown(password_file.name, POSTGRES_SYSTEM_USER)
        _run(_as_postgres_user([_postgres_tool("initdb"), "-D", str(data), "-U", team.postgres_user, "--pwfile",
                                password_file.name, "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C"]),
             "initdb")


def _postgres_running(team: TeamParams) -> bool:
    data = _postgres_dir(team)
    if not (data / "postmaster.pid").exists():
        return False
    status = subprocess.run(_as_postgres_user([_postgres_tool("pg_ctl"), "status", "-D", str(data)]), capture_output=True)
    return status.returncode == 0


def _connect(team: TeamParams, password: str, database: str):
    import psycopg2

    return psycopg2.connect(host=team.host, port=team.postgres_port, user=team.postgres_user, password=password,
                            dbname=database, connect_timeout=5)


def start_postgres(team: TeamParams) -> str:
    password = _environment_value(PASSWORD_VARIABLE, "PostgreSQL's password for the MLflow store")
    data = _postgres_dir(team)
    if _postgres_running(team):
        return f"postgres: already running on {team.host}:{team.postgres_port} ({data})"
    if not (data / "PG_VERSION").exists():
        _initialise_postgres(team, password)
    log = data.parent / "postgres.log"
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, POSTGRES_SYSTEM_USER)
    options = f"-c listen_addresses={team.host} -p {team.postgres_port} -k {data}"
    _run(_as_postgres_user([_postgres_tool("pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t",
                            str(START_TIMEOUT_S), "-o", options]), f"starting PostgreSQL (log: {log})")
    connection = _connect(team, password, "postgres")
    try:
        connection.autocommit = True  # CREATE DATABASE runs outside any transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (team.database,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{team.database}"')
    finally:
        connection.close()
    return f"postgres: started on {team.host}:{team.postgres_port}, database {team.database} ({data})"


def stop_postgres(team: TeamParams) -> str:
    if not _postgres_running(team):
        return "postgres: not running"
    _run(_as_postgres_user([_postgres_tool("pg_ctl"), "stop", "-D", str(_postgres_dir(team)), "-m", "fast", "-w"]),
         "stopping PostgreSQL")
    return "postgres: stopped"


# --- background Python servers (MLflow, moto) ------------------------------------------------

def _pid_file(team: TeamParams, name: str) -> Path:
    return team.folder / f"{name}.pid"


def _running_pid(team: TeamParams, name: str) -> int | None:
    path = _pid_file(team, name)
    if not path.exists():
        return None
    pid = int(path.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink()  # left by a crash or a reboot
        return None
    return pid


def _start_process(team: TeamParams, name: str, command: list[str], port: int, env: dict[str, str],
                   ready: Callable[[], bool]) -> str:
    pid = _running_pid(team, name)
    if pid is not None:
        return f"{name}: already running on {team.host}:{port} (pid {pid})"
    if _port_open(team.host, port):
        raise DPIQAError(f"{name}: port {port} on {team.host} is taken by another program; set team.{name}_port "
                         "in workspace.yaml to a free one")
    team.folder.mkdir(parents=True, exist_ok=True)
    log = team.folder / f"{name}.log"
    with open(log, "ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                   start_new_session=True)  # its own process group: stopped with all its workers
    _pid_file(team, name).write_text(str(process.pid))
    try:
        _wait_for(ready, process, f"{name} on {team.host}:{port}", log)
    except DPIQAError:
        _stop_process(team, name)
        raise
    return f"{name}: started on {team.host}:{port} (pid {process.pid}, log {log})"


def _stop_process(team: TeamParams, name: str) -> str:
    pid = _running_pid(team, name)
    if pid is None:
        return f"{name}: not running"
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(POLL_S)
        if not _alive(pid):
            break
    _pid_file(team, name).unlink(missing_ok=True)
    return f"{name}: stopped"


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reaps it when we started it in this process
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _s3_keys() -> dict[str, str]:
    why = "the S3-compatible store's access key (any value for the local test server)"
    return {name: _environment_value(name, why) for name in S3_KEY_VARIABLES}


def start_s3(team: TeamParams) -> str:
    _s3_keys()
    message = _start_process(team, "s3", [sys.executable, "-m", "moto.server", "-H", team.host, "-p", str(team.s3_port)],
                             team.s3_port, {}, lambda: _port_open(team.host, team.s3_port))
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint(team), region_name="us-east-1")
    if team.bucket not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=team.bucket)
    return f"{message}; bucket s3://{team.bucket}"


def start_mlflow(team: TeamParams) -> str:
    password = _environment_value(PASSWORD_VARIABLE, "PostgreSQL's password for the MLflow store")
    store = f"postgresql+psycopg2://{team.postgres_user}@{team.host}:{team.postgres_port}/{team.database}"
    env = {"PGPASSWORD": password}  # libpq reads it: the password never shows in a command line
    if team.artifacts == "s3":
        _s3_keys()
        destination = f"s3://{team.bucket}/mlflow"
        env["MLFLOW_S3_ENDPOINT_URL"] = s3_endpoint(team)
    else:
        destination = (team.folder / "artifacts").resolve().as_uri()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store, "--artifacts-destination",
               destination, "--host", team.host, "--port", str(team.mlflow_port)]
    message = _start_process(team, "mlflow", command, team.mlflow_port, env,
                             lambda: _answers(f"{mlflow_uri(team)}/health"))
    return f"{message}; artifacts {destination}"


STARTERS = {"postgres": start_postgres, "s3": start_s3, "mlflow": start_mlflow}
STOPPERS = {"postgres": stop_postgres, "s3": lambda team: _stop_process(team, "s3"),
            "mlflow": lambda team: _stop_process(team, "mlflow")}


def wanted(services: list[str] | None) -> list[str]:
    """The services named (all when none), in start order."""
    chosen = services or list(SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise DPIQAError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(SERVICES)}")
    return [name for name in SERVICES if name in chosen]


def start(team: TeamParams, services: list[str] | None = None) -> list[str]:
    return [STARTERS[name](team) for name in wanted(services)]


def stop(team: TeamParams, services: list[str] | None = None) -> list[str]:
    return [STOPPERS[name](team) for name in reversed(wanted(services))]


def status(team: TeamParams) -> dict[str, bool]:
    return {"postgres": _postgres_running(team), "s3": _running_pid(team, "s3") is not None,
            "mlflow": _running_pid(team, "mlflow") is not None}
