from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from codemate_tfgen import pipeline, tree
from codemate_tfgen.cli import main
from codemate_tfgen.project import Project, locate

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"
# Tests of tfgen run on a project of their own: the design document's environments as the
# specs first wrote them (dev, staging, prod), kept here so that what the team does to specs/
# never changes what these tests expect. GENERATED is that project rendered by this checkout's
# templates, once per test session. What is checked about the team's own specs/ and generated/
# is in tests/infrastructure/ (marker `infra`), derived from whichever specs exist.
FIXTURE = REPO / "tests" / "fixtures" / "project"
SPECS = FIXTURE / "specs"
GENERATED = Path(tempfile.mkdtemp(prefix="tfgen-fixture-project-"))
TEAM_SPECS = REPO / "specs"
TEAM_GENERATED = REPO / "generated"
GOLDEN = REPO / "tests" / "golden"
VARIANTS = sorted(p.name for p in GOLDEN.iterdir() if (p / "specs").is_dir())


def pytest_configure(config: pytest.Config) -> None:
    pipeline.render_to_disk(project_of(SPECS, GENERATED), ())


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(GENERATED, ignore_errors=True)


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


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of old in the file at path (a test's edit of a spec or source)."""
    text = path.read_text("utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {path}"
    path.write_text(text.replace(old, new), "utf-8")


def project_of(specs: Path = SPECS, out: Path = GENERATED) -> Project:
    """This repository's templates with the given specs and output root."""
    return locate(REPO, specs, out)


def two_environments(root: Path) -> Path:
    """A project of its own at root, from the golden variants' specs: dev (the worker variant's
    base) and prod (every option: the only one calling the bastion module), with this
    repository's templates. Returns root."""
    shutil.copytree(TEMPLATES, root / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "specs").mkdir()
    for source in ("all-options/specs/_common.yaml", "all-options/specs/_prod.yaml", "all-options/specs/prod.yaml",
                   "worker/specs/_dev.yaml"):
        shutil.copy(GOLDEN / source, root / "specs")
    (root / "specs" / "dev.yaml").write_text("extends: _dev.yaml\n", "utf-8")
    return root


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


def write_tree(files: dict[str, str], out: Path) -> Path:
    """Write rendered files the way `tfgen render` does (scripts 0755); returns the tree root."""
    tree.update_tree(out, files, None)
    return out / "infrastructure"


@pytest.fixture(scope="session")
def variant_trees() -> dict[str, dict[str, str]]:
    """Each golden variant (tests/golden/<variant>/specs) rendered whole: {path: text}."""
    return {variant: pipeline.build(project_of(GOLDEN / variant / "specs"), ())[0] for variant in VARIANTS}


@pytest.fixture(scope="session")
def variant_dirs(variant_trees, tmp_path_factory) -> dict[str, Path]:
    """Each variant written out whole (with its modules), for real Terraform: its one environment."""
    dirs = {}
    for variant, files in variant_trees.items():
        [dirs[variant]] = (write_tree(files, tmp_path_factory.mktemp(variant)) / "environments").iterdir()
    return dirs


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """tmp_path as a private project: copies of the fixture's specs/ and this repository's
    templates/, which a test may change."""
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
    """What `terraform plan` of a fixture environment will create: {address: planned values}
    (attributes known only after apply are absent). Real Terraform evaluates every expression,
    so tests assert what Terraform computes rather than re-evaluating HCL themselves."""
    return plan_values(GENERATED / "infrastructure" / "environments" / env)


@functools.cache
def planned_run(env_dir: Path):
    """init, validate and plan of the root module in env_dir (terraform_harness), once a session."""
    from terraform_harness import run_terraform

    return run_terraform(env_dir)


def plan_values(env_dir: Path) -> dict[str, dict]:
    """planned() for the root module in env_dir (environments/<env> of any rendered tree)."""
    result = planned_run(env_dir)
    assert result.errors == [] and result.planned_values is not None, result.errors
    return result.planned_values


@functools.cache
def applied(env: str):
    """A simulated apply of a fixture environment (terraform_harness), shared by the tests
    that read what Terraform computed only at apply time."""
    from terraform_harness import run_terraform

    return run_terraform(GENERATED / "infrastructure" / "environments" / env, apply=True)
