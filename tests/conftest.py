from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from codemate_tfgen.cli import main
from codemate_tfgen.project import Project

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
TEMPLATES = REPO / "templates"
GENERATED = REPO / "generated"


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
