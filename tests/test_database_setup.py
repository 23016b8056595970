"""The database setup task creates the application's PostgreSQL user: its script, exactly as
Terraform puts it into the task definition (read from a simulated apply), runs here against a
real PostgreSQL server with password authentication, as the master user RDS keeps would run it.

PostgreSQL comes from the machine's Debian package (scripts/test.sh installs it where it is
missing); a missing server is a failure, never a skip.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import applied

pytestmark = pytest.mark.slow  # a real PostgreSQL: not in `scripts/test.sh --fast`

MASTER, MASTER_PASSWORD = "codemate_admin", "master-pw-4f1d"
DATABASE = "codemate"


def postgres_bin(tool: str) -> str:
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))[-1:]), None)
    assert found, f"{tool} not found: install PostgreSQL (scripts/test.sh does)"
    return found


def as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """initdb and the server refuse to run as root; CI and sandboxes often are root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def server():
    # Not under pytest's tmp_path: it is private to the user running pytest, which the server's
    # user (postgres, when pytest runs as root) cannot enter.
    base = Path(tempfile.mkdtemp(prefix="tfgen-pg-"))
    data, log = base / "data", base / "server.log"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    port = _free_port()
    as_postgres([postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                 "--auth-host=scram-sha-256"])
    # Every statement is logged, so the test can tell whether a password ever reached the server.
    as_postgres([postgres_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                 f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c log_statement=all", "start"])
    try:
        psql = [postgres_bin("psql"), "-h", str(base), "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        # What RDS creates: a master user that may create roles (not a superuser) owning the database.
        as_postgres(psql + ["-c", f"CREATE ROLE {MASTER} LOGIN CREATEROLE PASSWORD '{MASTER_PASSWORD}'",
                            "-c", f"CREATE DATABASE {DATABASE} OWNER {MASTER}"])
        yield {"port": port, "log": log, "socket": base}
    finally:
        as_postgres([postgres_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_script() -> str:
    task = applied("dev").resource("module.database_setup.aws_ecs_task_definition.this")
    [container] = json.loads(task["container_definitions"])
    assert container["command"][:2] == ["sh", "-c"]
    assert container["image"] == "public.ecr.aws/docker/library/postgres:17-alpine"
    secrets = {s["name"] for s in container["secrets"]}
    assert secrets == {"PGUSER", "PGPASSWORD", "APP_USER", "APP_PASSWORD"}
    return container["command"][2]


def run_setup(server, user: str, password: str, master_password: str = MASTER_PASSWORD
              ) -> subprocess.CompletedProcess:
    """The task's environment: its plain variables (TLS off for a local server without it) and
    the secrets ECS would read from Secrets Manager."""
    env = {"PATH": f"{Path(postgres_bin('psql')).parent}:/usr/bin:/bin", "PGHOST": "127.0.0.1",
           "PGPORT": str(server["port"]), "PGDATABASE": DATABASE, "PGSSLMODE": "disable",
           "PGUSER": MASTER, "PGPASSWORD": master_password, "APP_USER": user, "APP_PASSWORD": password}
    return subprocess.run(["sh", "-c", setup_script()], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def as_app(server, user: str, password: str, sql: str) -> subprocess.CompletedProcess:
    env = {"PGPASSWORD": password, "PGSSLMODE": "disable", "PATH": "/usr/bin:/bin"}
    return subprocess.run([postgres_bin("psql"), "-h", "127.0.0.1", "-p", str(server["port"]), "-U", user,
                           "-d", DATABASE, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
                          env=env, capture_output=True, text=True, timeout=30)


def test_setup_creates_a_user_that_can_run_migrations(server):
    done = run_setup(server, "codemate_app", "app-pw-one-9a7c")
    assert done.returncode == 0, done.stderr
    assert "user codemate_app is ready" in done.stdout
    migrated = as_app(server, "codemate_app", "app-pw-one-9a7c",
                      "CREATE TABLE projects (id serial PRIMARY KEY, name text); SELECT current_user")
    assert (migrated.returncode, migrated.stdout.split()[-1]) == (0, "codemate_app"), migrated.stderr


def test_setup_is_repeatable_and_changes_the_password(server):
    assert run_setup(server, "codemate_app", "app-pw-one-9a7c").returncode == 0
    done = run_setup(server, "codemate_app", "app-pw-two-5e2b")
    assert done.returncode == 0, done.stderr
    assert as_app(server, "codemate_app", "app-pw-two-5e2b", "SELECT 1").returncode == 0
    assert as_app(server, "codemate_app", "app-pw-one-9a7c", "SELECT 1").returncode != 0


def test_the_password_never_reaches_the_statement_log(server):
    assert run_setup(server, "codemate_log", "app-pw-log-0c31").returncode == 0
    time.sleep(0.2)  # the logging collector writes asynchronously
    log = server["log"].read_text()
    assert "CREATE ROLE" in log and "codemate_log" in log, "statements are logged"
    assert "app-pw-log-0c31" not in log


def test_setup_fails_loudly_with_a_wrong_master_password(server):
    done = run_setup(server, "codemate_other", "app-pw-other-77d1", master_password="not-it")
    assert done.returncode != 0
    assert "password authentication failed" in done.stderr
    assert "is ready" not in done.stdout
