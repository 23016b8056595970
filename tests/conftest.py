from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from codemate_tfgen.cli import main
from codemate_tfgen.project import Project

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
TEMPLATES = REPO / "templates"
GENERATED = REPO / "generated"


def tree_difference(expected: dict[str, str], actual: dict[str, str], what: str) -> str:
    """Missing and extra files and a unified diff of every changed one ('' when equal): what a
    golden test prints, so a failure shows the change, not only the file name."""
    import difflib

    out = [f"{what}: missing {path}" for path in sorted(set(expected) - set(actual))]
    out += [f"{what}: extra {path}" for path in sorted(set(actual) - set(expected))]
    for path in sorted(set(expected) & set(actual)):
        if expected[path] != actual[path]:
            out += difflib.unified_diff(expected[path].splitlines(), actual[path].splitlines(),
                                        f"golden/{path}", f"rendered/{path}", lineterm="")
    return "\n".join(out)


def project_of(specs: Path = SPECS, out: Path = GENERATED) -> Project:
    """This repository's templates with the given specs and output root."""
    return Project(REPO, specs, TEMPLATES, out)


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file below root (symlinks as their target text), keyed by relative path."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """tmp_path as a private project: copies of the real specs/ and templates/ a test may change."""
    shutil.copytree(SPECS, tmp_path / "specs")
    shutil.copytree(TEMPLATES, tmp_path / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.fixture
def specs(project: Path) -> Path:
    """The private project's specs/."""
    return project / "specs"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, project: Path):
    """Run tfgen in the private project (tmp_path); returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(project)

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def planned(env: str) -> dict[str, dict]:
    """What `terraform plan` of a committed environment will create: {address: planned values}
    (attributes known only after apply are absent). Real Terraform evaluates every expression,
    so tests assert what Terraform computes rather than re-evaluating HCL themselves."""
    return plan_values(GENERATED / "infrastructure" / "environments" / env)


@functools.cache
def plan_values(env_dir: Path) -> dict[str, dict]:
    """planned() for the root module in env_dir (environments/<env> of any rendered tree)."""
    from terraform_harness.runner import FAKE_AWS_ENV, copy_tree, run_steps, shared_server

    server = shared_server()
    with tempfile.TemporaryDirectory(prefix="tfh-plan-") as tmp:
        root = copy_tree(env_dir, Path(tmp))
        environment = dict(FAKE_AWS_ENV, **server.reattach_env(), TF_DATA_DIR=str(root / ".terraform"))
        steps = [{"cmd": "init", "options": {"input": False}},
                 {"cmd": "plan", "needs_success": True, "options": {"input": False, "lock": False, "out": "p"}},
                 {"cmd": "show", "needs_success": True, "args": ["p"], "options": {"json": None}}]
        results = run_steps(steps, str(root), environment)
    failed = [r for r in results if r["retcode"] != 0]
    assert not failed and len(results) == 3, failed
    plan = json.loads(results[-1]["stdout"])
    return {change["address"]: change["change"]["after"] for change in plan["resource_changes"]}


@functools.cache
def applied(env: str):
    """A simulated apply of a committed environment (terraform_harness), shared by the tests
    that read what Terraform computed only at apply time."""
    from terraform_harness import run_terraform

    return run_terraform(GENERATED / "infrastructure" / "environments" / env, apply=True)
