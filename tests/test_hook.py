"""The pre-commit hook as contributors use it: a fresh clone, `pre-commit install`, no
virtualenv activated, real `git commit`s through the real (pinned) pre-commit.

A commit that leaves generated/ stale (a template, a spec or tfgen's own code changed without
re-rendering) is refused with the diff and the command to run, and so is one that leaves a golden
variant (tests/golden) stale; a commit that keeps both current goes through. A week of a team's
changes (a new environment, a new service, two options, a template edit), rendered and committed
through the hook, leaves CI's checks of the team's infrastructure (tests/infrastructure) and the
tests of tfgen that read the edited template's output green.
The remote form (`repo:` + `rev:`, .pre-commit-hooks.yaml) is used the same way by a repository
holding its own specs and templates.

Hook environments are built once per module in a private PRE_COMMIT_HOME; pre-commit installs
their packages with pip from the package index, as it does for a contributor.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import GENERATED, REPO, SPECS, edit

pytestmark = pytest.mark.slow  # real git commits through pre-commit: not in `scripts/test.sh --fast`

GIT = shutil.which("git")
BIN = Path(sys.executable).parent
ECR = "templates/modules/compute/ecr/main.tf.j2"
MONITORING = "templates/environments/main/monitoring.tf.j2"
ALARMS = "templates/modules/monitoring/cloudwatch/main.tf.j2"
ALARM_OUTPUTS = "templates/modules/monitoring/cloudwatch/outputs.tf.j2"


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    result = run([GIT, *args], repo, env)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A git repository holding this working tree's files, with the fixture project as its specs/
    and generated/ (the upstream of the clones), and the
    environment a contributor's shell has: no virtualenv on PATH, no tfgen, no pre-commit."""
    assert GIT, "git is needed to test the commit hook"
    root = tmp_path_factory.mktemp("hook")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() != BIN.resolve())
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=path, PRE_COMMIT_HOME=str(root / "pre-commit-home"), GIT_CONFIG_GLOBAL=os.devnull,
               GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Contributor", GIT_AUTHOR_EMAIL="c@example.com",
               GIT_COMMITTER_NAME="Contributor", GIT_COMMITTER_EMAIL="c@example.com")
    assert shutil.which("tfgen", path=path) is None, "the hook must not rely on a tfgen on PATH"
    upstream = root / "upstream"
    listed = git(REPO, env, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (upstream / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, upstream / name)
    # The fixture project's specs and their render stand for the team's: what these tests
    # change is known to be there, whatever specs/ holds today.
    for folder, source in (("specs", SPECS), ("generated", GENERATED)):
        shutil.rmtree(upstream / folder)
        shutil.copytree(source, upstream / folder)
    git(upstream, env, "init", "-q", "-b", "main")
    git(upstream, env, "add", "-A")
    git(upstream, env, "commit", "-q", "-m", "upstream")
    return {"root": root, "env": env, "upstream": upstream}


def pre_commit_install(repo: Path, env: dict[str, str]) -> None:
    """What a contributor runs once; the pinned pre-commit of the test environment (the git hook
    it writes names that interpreter, so commits need no activated virtualenv)."""
    result = run([sys.executable, "-m", "pre_commit", "install"], repo, env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def clone(sandbox: dict, tmp_path: Path) -> Path:
    repo = tmp_path / "clone"
    git(tmp_path, sandbox["env"], "clone", "-q", str(sandbox["upstream"]), str(repo))
    pre_commit_install(repo, sandbox["env"])
    return repo


def commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    git(repo, env, "add", "-A")
    return run([GIT, "commit", "-m", message], repo, env)


def assert_refused(repo: Path, env: dict[str, str], result: subprocess.CompletedProcess[str], command: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "tfgen check" in output and "Failed" in output, output
    assert f"run `{command}` and commit the result" in output, output
    assert git(repo, env, "log", "--format=%s").splitlines() == ["upstream"], "the commit went through"
    return output


def test_template_only_change_is_refused_with_the_diff(clone, sandbox):
    (clone / ECR).write_text((clone / ECR).read_text() + "\n# a template change\n")
    output = assert_refused(clone, sandbox["env"], commit(clone, sandbox["env"], "template only"),
                            "python -m codemate_tfgen render")
    assert "--- a/infrastructure/modules/compute/ecr/main.tf" in output
    assert "+# a template change" in output


def test_spec_only_change_is_refused_with_the_diff(clone, sandbox):
    edit(clone / "specs/dev.yaml", "hostname: codemate-dev", "hostname: codemate-devel")
    output = assert_refused(clone, sandbox["env"], commit(clone, sandbox["env"], "spec only"),
                            "python -m codemate_tfgen render")
    assert "--- a/infrastructure/environments/dev/terraform.tfvars" in output
    assert re.search(r'^\+dns\s*=.*hostname\s*=\s*"codemate-devel"', output, re.MULTILINE), output


def test_change_to_tfgens_own_code_is_refused(clone, sandbox):
    """The hook runs the code being committed, not an installed copy of tfgen."""
    edit(clone / "codemate_tfgen/render/templates.py", "Do not edit by hand", "Never edit by hand")
    output = assert_refused(clone, sandbox["env"], commit(clone, sandbox["env"], "code only"),
                            "python -m codemate_tfgen render")
    assert "+# Generated by tfgen from templates/modules/compute/ecr/main.tf.j2. Never edit by hand" in output


def test_commit_that_keeps_generated_current_passes(clone, sandbox):
    env = sandbox["env"]
    (clone / ECR).write_text((clone / ECR).read_text() + "\n# a template change\n")
    edit(clone / "specs/dev.yaml", "hostname: codemate-dev", "hostname: codemate-devel")
    # The command the refusal names, run as a contributor would (any Python with tfgen's
    # dependencies; here the test environment's).
    rendered = run([sys.executable, "-m", "codemate_tfgen", "render"], clone, env)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    result = commit(clone, env, "template and spec, re-rendered")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tfgen check" in result.stdout + result.stderr and "Passed" in result.stdout + result.stderr
    assert git(clone, env, "log", "--format=%s").splitlines() == ["template and spec, re-rendered", "upstream"]


def test_template_edit_that_stales_a_golden_variant_is_refused(clone, sandbox):
    """generated/ re-rendered, the golden variants forgotten: CI's test_golden would fail, so the
    commit is refused with the command that refreshes them, and goes through after it."""
    env = sandbox["env"]
    (clone / MONITORING).write_text((clone / MONITORING).read_text() + "\n# a template change\n")
    rendered = run([sys.executable, "-m", "codemate_tfgen", "render"], clone, env)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    result = commit(clone, env, "template, goldens forgotten")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(r"^golden variants\.+Failed$", output, re.MULTILINE), output
    assert "tests/golden/worker/generated: stale: infrastructure/environments/dev/main.tf" in output
    assert "run `python scripts/update_goldens.py` and commit the result" in output
    assert git(clone, env, "log", "--format=%s").splitlines() == ["upstream"], "the commit went through"
    updated = run([sys.executable, "scripts/update_goldens.py"], clone, env)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    result = commit(clone, env, "template and goldens")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^golden variants\.+Passed$", result.stdout + result.stderr, re.MULTILINE)


# An alarm a team adds to the monitoring module, next to the document's CPU alarm: an addition,
# not a departure (no value the design document fixes changes).
MEMORY_ALARM = """\
resource "aws_cloudwatch_metric_alarm" "ecs_memory_high" {
  for_each = var.ecs_service_names

  alarm_name          = "${local.name}-${each.key}-memory-high"
  alarm_description   = "${each.key} service memory above 85 % for 5 minutes"
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  treat_missing_data  = "notBreaching"

  dimensions = {
    ClusterName = var.ecs_cluster_name
    ServiceName = each.value
  }

  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]

  tags = merge(var.tags, { Name = "${local.name}-${each.key}-memory-high" })
}

"""
MEMORY_OUTPUT = """
output "memory_alarm_arns" {
  description = "ARNs of the ECS memory alarms, by service"
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.ecs_memory_high : key => alarm.arn }
}
"""
# The tests of tfgen whose subjects the monitoring module's output reaches: its resources and
# the document's values in them, its README, the golden variants, the fixture's validate and plan.
REACHED = ["tests/test_data_values.py", "tests/test_docs.py", "tests/test_golden.py",
           "tests/test_terraform_generated.py"]

# A service the load balancer does not reach, as the golden variant `worker` has.
WORKER = """
services:
  worker:
    cpu: 256
    memory: 512
    desired_count: 1
    min_count: 1
    max_count: 2
    cpu_target: 70
    environment:
      REDIS_HOST: {ref: cache.address}
    secrets:
      DATABASE_PASSWORD: database:password
"""


def test_a_teams_week_keeps_ci_green(clone, sandbox):
    """What a team does to its own specs and templates, each step committed through the hook;
    then, in the clone, CI's checks of the team's infrastructure (which derive everything from the
    specs they find) and the tests of tfgen that read the edited template's output (which assert
    the design document's values, and tolerate what a team adds). The apply into the shared
    account is left out: it takes most of the time, and the options and the worker are applied
    by tests/test_options.py and planned here."""
    env = sandbox["env"]

    def render_and_commit(message: str) -> None:
        rendered = run([sys.executable, "-m", "codemate_tfgen", "render", "--all"], clone, env)
        assert rendered.returncode == 0, rendered.stdout + rendered.stderr
        result = commit(clone, env, message)
        assert result.returncode == 0, result.stdout + result.stderr

    specs = clone / "specs"
    # A new environment: staging's values, with those validation requires to be its own.
    qa = (specs / "staging.yaml").read_text()
    for old, new in (("hostname: codemate-staging", "hostname: codemate-qa"), ("branch: staging", "branch: qa"),
                     ("https://codemate-staging.code1398.io", "https://codemate-qa.code1398.io")):
        assert qa.count(old) == 1, old
        qa = qa.replace(old, new)
    (specs / "qa.yaml").write_text(qa)
    # A third service in dev.
    (specs / "dev.yaml").write_text((specs / "dev.yaml").read_text() + WORKER)
    # Two options in staging: read replicas and scheduled scaling.
    edit(specs / "staging.yaml", "  backup_retention_days: 3\n",
         "  backup_retention_days: 3\n  read_replicas: {count: 1, instance_class: db.t4g.micro}\n")
    edit(specs / "staging.yaml", "  frontend: {desired_count: 2, min_count: 2, max_count: 3}\n", """\
  frontend:
    desired_count: 2
    min_count: 2
    max_count: 3
    schedules:
      - {name: night, cron: "0 22 ? * MON-FRI *", timezone: Asia/Seoul, min_count: 1, max_count: 2}
      - {name: morning, cron: "0 7 ? * MON-FRI *", timezone: Asia/Seoul, min_count: 2, max_count: 3}
""")
    render_and_commit("qa; a worker in dev; read replicas and night scale-in in staging")
    # An alarm, its place on the dashboard and an output added to the monitoring module.
    edit(clone / ALARMS, "# 2. ALB Target Health", MEMORY_ALARM + "# 2. ALB Target Health")
    cpu_alarms = "            [for alarm in aws_cloudwatch_metric_alarm.ecs_cpu_high : alarm.arn],\n"
    edit(clone / ALARMS, cpu_alarms,
         cpu_alarms + "            [for alarm in aws_cloudwatch_metric_alarm.ecs_memory_high : alarm.arn],\n")
    (clone / ALARM_OUTPUTS).write_text((clone / ALARM_OUTPUTS).read_text() + MEMORY_OUTPUT)
    render_and_commit("a memory alarm for every service")

    result = run([sys.executable, "-m", "pytest", "-v", "-x", "-p", "no:cacheprovider", "-k", "not applies_into",
                  "tests/infrastructure", *REACHED], clone, env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # The checks saw the new environment and the new service, not this repository's specs.
    assert re.search(r"test_validate_and_plan\[qa\] PASSED", result.stdout), result.stdout[-4000:]
    assert re.search(r"test_plan_has_what_the_spec_asks_for\[dev\] PASSED", result.stdout)
    # The tool's tests read the new alarm: the document's alarms are checked beside it.
    assert "ecs_memory_high" in (clone / "generated/infrastructure/modules/monitoring/cloudwatch/main.tf").read_text()
    assert re.search(r"test_alarms\[dev\] PASSED", result.stdout), result.stdout[-4000:]


def test_remote_hook_in_a_repository_with_its_own_specs_and_templates(sandbox, tmp_path):
    """`repo:` this repository at a commit, `rev:` that commit: pre-commit installs tfgen from
    it (not editable) and runs `tfgen check` on the other repository's own files."""
    env, upstream = sandbox["env"], sandbox["upstream"]
    rev = git(upstream, env, "rev-parse", "HEAD").strip()
    repo = tmp_path / "infra"
    for name in ("specs", "templates", "generated"):
        shutil.copytree(upstream / name, repo / name)
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(
        {"repos": [{"repo": str(upstream), "rev": rev, "hooks": [{"id": "tfgen-check"}]}]}))
    git(repo, env, "init", "-q", "-b", "main")
    pre_commit_install(repo, env)
    first = commit(repo, env, "upstream")
    assert first.returncode == 0, first.stdout + first.stderr
    (repo / ECR).write_text((repo / ECR).read_text() + "\n# a template change\n")
    output = assert_refused(repo, env, commit(repo, env, "template only"), "tfgen render")
    assert "+# a template change" in output


def test_hook_dependencies_are_pyprojects():
    """The local hooks install tfgen's runtime dependencies themselves: the same list as pyproject."""
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h["additional_dependencies"] for repo in config["repos"] for h in repo["hooks"]}
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert hooks == {"tfgen-check": dependencies, "golden-variants": dependencies}


def test_pre_commit_is_pinned_in_the_test_extra():
    test_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    [pin] = [d for d in test_extra if d.startswith("pre-commit")]
    assert re.fullmatch(r"pre-commit==\d+(\.\d+)+", pin), pin


def test_the_docs_name_no_tag_that_does_not_exist():
    docs = "".join(path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    assert "rev: <tag>" not in docs
    tags = subprocess.run([GIT, "tag"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    revs = re.findall(r"^\s*rev:\s*(\S+)", docs, re.MULTILINE)
    assert revs, "the docs show the hook's remote form (docs/project.md)"
    for rev in revs:
        assert rev in tags or re.fullmatch(r"<[^>]*commit[^>]*>", rev), rev
