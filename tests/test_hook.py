"""The pre-commit hook as contributors use it: a fresh clone, `pre-commit install`, no
virtualenv activated, real `git commit`s through the real (pinned) pre-commit.

A commit that leaves generated/ stale (a template, a spec or tfgen's own code changed without
re-rendering) is refused with the diff and the command to run; a commit that keeps generated/
current goes through. The remote form (`repo:` + `rev:`, .pre-commit-hooks.yaml) is used the
same way by a repository holding its own specs and templates.

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
from conftest import REPO, edit

GIT = shutil.which("git")
BIN = Path(sys.executable).parent
ECR = "templates/modules/compute/ecr/main.tf.j2"


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    result = run([GIT, *args], repo, env)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A git repository holding this working tree's files (the upstream of the clones), and the
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
    """The local hook installs tfgen's runtime dependencies itself: the same list as pyproject."""
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    [hook] = [h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "tfgen-check"]
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert hook["additional_dependencies"] == dependencies


def test_pre_commit_is_pinned_in_the_test_extra():
    test_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    [pin] = [d for d in test_extra if d.startswith("pre-commit")]
    assert re.fullmatch(r"pre-commit==\d+(\.\d+)+", pin), pin


def test_readme_names_no_tag_that_does_not_exist():
    readme = (REPO / "README.md").read_text()
    assert "rev: <tag>" not in readme
    tags = subprocess.run([GIT, "tag"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rev in re.findall(r"^\s*rev:\s*(\S+)", readme, re.MULTILINE):
        assert rev in tags or re.fullmatch(r"<[^>]*commit[^>]*>", rev), rev
