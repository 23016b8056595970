"""`tfgen affected`: a repository with one commit per kind of change (a module both environments
call, a module one calls, a spec, documentation only), built in tmp from conftest's
two_environments project. Each case renders both sides for real."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import edit, two_environments

import codemate_tfgen
from codemate_tfgen.cli import main

VPC = "templates/modules/networking/vpc/main.tf.j2"
BASTION = "templates/modules/compute/bastion/main.tf.j2"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """main holds the base; the branch `change` one commit per kind of change, checked out."""
    root = two_environments(tmp_path_factory.mktemp("affected"))
    (root / "README.md").write_text("# Infrastructure\n", "utf-8")
    git(root, "init", "-q", "-b", "main")
    commits = {"base": commit(root, "base")}
    git(root, "checkout", "-q", "-b", "change")
    (root / VPC).write_text((root / VPC).read_text("utf-8") + "# Every environment's network.\n", "utf-8")
    commits["vpc"] = commit(root, "vpc module")
    (root / BASTION).write_text((root / BASTION).read_text("utf-8") + "# Session Manager only.\n", "utf-8")
    commits["bastion"] = commit(root, "bastion module")
    (root / "specs" / "dev.yaml").write_text("extends: _dev.yaml\ntags:\n  Team: web\n", "utf-8")
    commits["spec"] = commit(root, "dev spec")
    (root / "README.md").write_text("# Infrastructure\n\nHow to plan.\n", "utf-8")
    edit(root / "templates/_shared/README.md.j2", "# {{ title }}\n", "# {{ title }} (generated)\n")  # docs only
    commits["readme"] = commit(root, "documentation")
    return root, commits


def affected(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["affected", "--project", str(root), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def listed(root: Path, *args: str) -> dict[str, list[str]]:
    code, out, err = affected(root, "--format", "json", *args)
    assert code == 0, err
    return {entry["environment"]: entry["reasons"] for entry in json.loads(out)}


def test_a_documentation_change_plans_nothing(repo):
    root, commits = repo
    assert listed(root, "--since", commits["spec"]) == {}
    code, out, _ = affected(root, "--since", commits["spec"])
    assert (code, out) == (0, f"tfgen: no environments affected since {commits['spec']}\n")


def test_a_spec_change_lists_its_environment_alone(repo):
    root, commits = repo
    assert listed(root, "--since", commits["bastion"]) == {"dev": ["spec specs/dev.yaml"]}


def test_a_module_one_environment_calls_lists_that_one(repo):
    root, commits = repo
    assert listed(root, "--since", commits["vpc"]) == {
        "dev": ["spec specs/dev.yaml"],
        "prod": [f"template {BASTION}", "module compute/bastion"],
    }


def test_a_shared_module_lists_every_environment_calling_it(repo):
    """The default is the merge base with main: the branch's base commit."""
    root, commits = repo
    expected = {
        "dev": ["spec specs/dev.yaml", f"template {VPC}", "module networking/vpc"],
        "prod": [f"template {BASTION}", f"template {VPC}", "module compute/bastion", "module networking/vpc"],
    }
    assert listed(root, "--since", commits["base"]) == expected
    assert listed(root) == expected
    code, out, _ = affected(root)
    assert out.splitlines() == [f"{env}: {', '.join(reasons)}" for env, reasons in expected.items()] + [
        f"tfgen: 2 environments affected since {commits['base']}"]


def test_the_working_tree_counts_not_only_commits(repo):
    root, _ = repo
    spec = root / "specs" / "prod.yaml"
    before = spec.read_text("utf-8")
    try:
        edit(spec, "bake_time_minutes: 10", "bake_time_minutes: 15")
        assert listed(root, "--since", "HEAD") == {"prod": ["spec specs/prod.yaml"]}
    finally:
        spec.write_text(before, "utf-8")


def test_an_unknown_revision_is_one_line_and_exit_2(repo):
    root, _ = repo
    code, out, err = affected(root, "--since", "no-such-ref")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("--since no-such-ref: ")


def test_a_revision_that_does_not_render_is_one_line_and_exit_2(repo, tmp_path):
    root, commits = repo
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    (clone / "specs" / "dev.yaml").write_text("extends: _nowhere.yaml\n", "utf-8")
    commit(clone, "broken spec")
    (clone / "specs" / "dev.yaml").write_text("extends: _dev.yaml\n", "utf-8")
    code, _, err = affected(clone, "--since", "HEAD")
    assert code == 2
    assert err.startswith("--since HEAD: the revision does not render: ") and "_nowhere.yaml" in err
    assert len(err.splitlines()) == 1


def test_a_change_of_tfgen_code_renders_the_revision_with_its_own_code(tmp_path):
    """In a repository holding tfgen itself, the revision is rendered by the revision's code: here
    an older header wording, which every generated file carries."""
    root = two_environments(tmp_path / "repo")
    package = Path(codemate_tfgen.__file__).parent
    shutil.copytree(package, root / "codemate_tfgen", ignore=shutil.ignore_patterns("__pycache__"))
    code = root / "codemate_tfgen/render/templates.py"
    edit(code, 'f"Generated by tfgen from', 'f"Rendered by tfgen from')
    git(root, "init", "-q", "-b", "main")
    old = commit(root, "older wording")
    edit(code, 'f"Rendered by tfgen from', 'f"Generated by tfgen from')  # the running code's again
    commit(root, "header wording")
    found = listed(root, "--since", old)
    assert sorted(found) == ["dev", "prod"]
    for reasons in found.values():  # every file changed: the root and each module it calls
        assert reasons[-1] == "tfgen code codemate_tfgen/render/templates.py"
        assert "module networking/vpc" in reasons
        assert all(reason.startswith("module ") for reason in reasons[:-1])
    assert ("module compute/bastion" in found["prod"], "module compute/bastion" in found["dev"]) == (True, False)
    assert listed(root, "--since", "HEAD") == {}


def test_a_new_environment_and_a_removed_one_are_listed_as_such(tmp_path):
    """An environment the revision lacks is new (everything in it is to create); one whose spec
    the working tree removed is listed for its destroy, and plans nothing else."""
    root = two_environments(tmp_path / "repo")
    git(root, "init", "-q", "-b", "main")
    base = commit(root, "base")
    (root / "specs" / "qa.yaml").write_text("extends: _dev.yaml\ndns:\n  hostname: codemate-qa\n", "utf-8")
    with_qa = commit(root, "qa")
    assert listed(root, "--since", base) == {"qa": ["new environment"]}
    (root / "specs" / "qa.yaml").unlink()
    assert listed(root, "--since", with_qa) == {"qa": ["spec removed"]}
