"""--format json: one versioned shape for validate, check, render and cost (docs/team-workflow.md),
on conftest's two_environments project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import edit, two_environments

from codemate_tfgen.cli import main

KEYS = ["version", "problems", "drifted", "missing", "orphaned", "foreign"]
TEMPLATE = "templates/modules/networking/vpc/main.tf.j2"
VPC = "infrastructure/modules/networking/vpc/main.tf"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = two_environments(tmp_path / "project")
    assert run(root, "render")[0] == 0
    return root


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--project", str(root)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def document(root: Path, *args: str, code: int = 0) -> dict:
    exit_code, out, err = run(root, *args, "--format", "json")
    assert (exit_code, err) == (code, "")
    data = json.loads(out)
    assert list(data)[:len(KEYS)] == KEYS and data["version"] == 1
    return data


def test_errors_and_warnings_are_problems_with_their_place(project, monkeypatch):
    monkeypatch.chdir(project)
    edit(project / "specs/prod.yaml", "storage:\n", 'storage:\n  cors_allowed_origins: ["https://codemate-dev.code1398.io"]\n')
    warned = document(project, "validate")["problems"]
    line = (project / "specs/prod.yaml").read_text("utf-8").splitlines().index("storage:") + 2
    assert [(p["file"], p["line"], p["column"], p["path"], p["severity"]) for p in warned] == [
        ("specs/prod.yaml", line, 26, "$.storage.cors_allowed_origins[0]", "warning")]
    assert warned[0]["message"].startswith("prod allows the CORS origin https://codemate-dev.code1398.io, as dev")
    edit(project / "specs/dev.yaml", "extends: _dev.yaml\n",
         "extends: _dev.yaml\nnetwork:\n  nat:\n    per_azz: true\n")
    [problem] = document(project, "validate", "dev", code=2)["problems"]
    assert problem == {"file": "specs/dev.yaml", "line": 4, "column": 5, "path": "$.network.nat.per_azz",
                       "message": "unknown key 'per_azz'; did you mean 'per_az'?", "severity": "error"}


def test_an_error_without_a_place_is_a_problem_too(project):
    [problem] = document(project, "check", "nope", code=2)["problems"]
    assert problem["file"] is None and "no spec for environment 'nope'" in problem["message"]


def test_a_verification_finding_is_at_the_template_line_that_wrote_it(project):
    """An editor annotates the template a user edited, not the generated file."""
    edit(project / TEMPLATE, "  enable_dns_support   = true\n",
         "  enable_dns_support   = true\n  enable_dns_supportt = true\n")
    [problem] = document(project, "check", code=1)["problems"]
    line = (project / TEMPLATE).read_text().split("\n").index("  enable_dns_supportt = true") + 1
    assert (problem["file"], problem["line"], problem["severity"]) == (str(project / TEMPLATE), line, "error")
    assert problem["generated"].startswith(f"{VPC}:") and "enable_dns_supportt" in problem["message"]


def test_check_and_dry_run_list_the_drift_with_each_diff(project):
    assert document(project, "check") == dict.fromkeys(KEYS, []) | {"version": 1}
    edit(project / TEMPLATE, 'resource "aws_vpc" "this" {', '# One VPC per environment.\nresource "aws_vpc" "this" {')
    (project / "generated/infrastructure/modules/compute/ecr/outputs.tf").unlink()
    (project / "generated/infrastructure/environments/dev/extra.tf").write_text("locals {}\n", "utf-8")
    for command in (["check"], ["render", "--dry-run"]):
        data = document(project, *command, code=1 if command == ["check"] else 0)
        assert [entry["file"] for entry in data["drifted"]] == [VPC]
        assert "+# One VPC per environment.\n" in data["drifted"][0]["diff"]
        assert data["missing"] == ["infrastructure/modules/compute/ecr/outputs.tf"]
        assert data["foreign"] == ["infrastructure/environments/dev/extra.tf"]
    code, out, _ = run(project, "render", "--dry-run", "--diff")
    assert code == 0 and f"+++ b/{VPC}\n" in out and "+# One VPC per environment.\n" in out
    assert run(project, "render", "--diff")[0] == 2


def test_cost_has_the_same_shape_around_its_estimates(project):
    data = document(project, "cost", "dev")
    assert data["environment"] == "dev" and data["total_usd"] > 0 and data["problems"] == []
    assert [e["environment"] for e in document(project, "cost")["environments"]] == ["dev", "prod"]
