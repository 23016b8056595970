"""scripts/plan.sh --all: every environment planned, N at a time, and a table, on conftest's
two_environments project, through a fake terraform that behaves per environment as the test
asks and records how many plans run at once."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import two_environments

from codemate_tfgen.cli import main

FAKE = r"""#!/usr/bin/env bash
# terraform -chdir=DIR plan ...: as FAKE_PLAN_<environment> says (changes, none, fail).
name="${1#-chdir=}"
name="${name##*/}"
printf '%s\n' "$*" >>"$FAKE_ARGS"
touch "$FAKE_RUNNING/$name"
ls "$FAKE_RUNNING" | wc -l >>"$FAKE_PEAK"
sleep 1
rm "$FAKE_RUNNING/$name"
behaviour="FAKE_PLAN_$name"
case "${!behaviour}" in
  changes) echo "Plan: 1 to add, 0 to change, 0 to destroy."; exit 2 ;;
  none) echo "No changes. Your infrastructure matches the configuration."; exit 0 ;;
  *) echo "Error: no credentials" >&2; exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    root = two_environments(tmp_path_factory.mktemp("plan-all"))
    assert CliRunner().invoke(main, ["render", "--project", str(root)]).exit_code == 0
    return root / "generated/infrastructure/scripts/plan.sh"


# tfgen affected ...: records its arguments, prints FAKE_AFFECTED (its text format).
FAKE_TFGEN = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >"$FAKE_TFGEN_ARGS"
printf '%s' "$FAKE_AFFECTED"
"""


def run(script: Path, tmp_path: Path, *args: str, mode: str = "--all", affected: str = "",
        **plans: str) -> tuple[subprocess.CompletedProcess, list, list]:
    bin_dir, running = tmp_path / "bin", tmp_path / "running"
    bin_dir.mkdir()
    running.mkdir()
    for name, text in (("terraform", FAKE), ("tfgen", FAKE_TFGEN)):
        fake = bin_dir / name
        fake.write_text(text)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_RUNNING": str(running),
           "FAKE_PEAK": str(tmp_path / "peak"), "FAKE_ARGS": str(tmp_path / "args"), "TMPDIR": str(tmp_path),
           "FAKE_AFFECTED": affected, "FAKE_TFGEN_ARGS": str(tmp_path / "tfgen-args"),
           **{f"FAKE_PLAN_{name}": plan for name, plan in plans.items()}}
    done = subprocess.run(["bash", str(script), mode, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60, check=False)
    peaks = [int(n) for n in (tmp_path / "peak").read_text().split()] if (tmp_path / "peak").exists() else []
    calls = (tmp_path / "args").read_text().splitlines() if (tmp_path / "args").exists() else []
    return done, peaks, calls


def test_plans_every_environment_at_once_up_to_the_bound_and_sums_up(script, tmp_path):
    done, peaks, calls = run(script, tmp_path, "-j", "2", "-target=module.vpc", dev="changes", prod="none")
    assert done.returncode == 0, done.stderr
    assert max(peaks) == 2
    env_dir = script.parent.parent / "environments"
    assert sorted(calls) == [f"-chdir={env_dir / name} plan -input=false -no-color -detailed-exitcode -out=tfplan "
                             "-target=module.vpc" for name in ("dev", "prod")]
    table = done.stdout.splitlines()
    assert table[:3] == [f"{a:<16}  {b:<10}  {c}" for a, b, c in [
        ("ENVIRONMENT", "RESULT", "PLAN"),
        ("dev", "changes", "Plan: 1 to add, 0 to change, 0 to destroy."),
        ("prod", "no changes", "No changes. Your infrastructure matches the configuration.")]]


def test_a_failed_plan_is_named_with_its_log_and_fails_the_run(script, tmp_path):
    done, peaks, _ = run(script, tmp_path, "-j", "1", dev="none", prod="fail")
    assert done.returncode == 1 and max(peaks) == 1
    [row] = [line for line in done.stdout.splitlines() if line.startswith("prod ")]
    log = Path(row.split("see ", 1)[1])
    assert row.split()[:2] == ["prod", "failed"] and log.read_text() == "Error: no credentials\n"
    assert done.stderr == "plan.sh: 1 plan(s) failed; their logs are named above\n"


@pytest.mark.parametrize("jobs", ["0", "x", ""])
def test_a_bad_bound_is_a_usage_error(script, tmp_path, jobs):
    done, _, calls = run(script, tmp_path, "-j", jobs)
    assert done.returncode == 2 and calls == [] and "-j takes how many environments" in done.stderr


def test_affected_plans_what_tfgen_affected_lists_and_names_a_removed_one(script, tmp_path):
    affected = "dev: spec specs/dev.yaml\nqa: spec removed\ntfgen: 2 environments affected since abc\n"
    done, _, calls = run(script, tmp_path, "origin/main", "-j", "1", mode="--affected", affected=affected,
                         dev="changes", prod="none")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tfgen-args").read_text() == "affected --since origin/main\n"
    assert [call.split()[0] for call in calls] == [f"-chdir={script.parent.parent / 'environments' / 'dev'}"]
    assert [line.split()[:2] for line in done.stdout.splitlines()[1:2]] == [["dev", "changes"]]
    assert "plan.sh: qa: spec removed; destroy it (destroy.sh), not planned" in done.stderr


def test_affected_without_a_revision_and_with_nothing_to_plan(script, tmp_path):
    done, _, calls = run(script, tmp_path, mode="--affected", affected="tfgen: no environments affected since abc\n")
    assert (done.returncode, calls) == (0, [])
    assert (tmp_path / "tfgen-args").read_text() == "affected\n"
    assert done.stdout == "plan.sh: no environment affected; nothing to plan\n"
