"""The project's files are what tfgen reads: the nearest folder upward holding specs/ and
templates/ (or --project DIR) gives the specs, the templates and the output tree, whichever
way tfgen was installed.

The subprocess tests run the `tfgen` console script of the environment running the tests:
`scripts/test.sh` installs it with `pip install '.[test]'`, not editable, as the README's first
command does, so its package holds a copy of the templates that an edit in the project does
not change.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GENERATED, SPECS, TEMPLATES, tree_files

pytestmark = pytest.mark.slow  # the installed tfgen, which `scripts/test.sh --fast` does not reinstall

TFGEN = Path(sys.executable).parent / "tfgen"
ECR = "templates/modules/compute/ecr/main.tf.j2"


def tfgen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert TFGEN.is_file(), f"no installed tfgen at {TFGEN}: run `bash scripts/test.sh`"
    return subprocess.run([str(TFGEN), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A project as a user has it: specs, templates and the committed generated tree."""
    root = tmp_path / "project"
    for name, source in (("specs", SPECS), ("templates", TEMPLATES), ("generated", GENERATED)):
        shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_installed_tfgen_checks_and_renders_the_projects_templates(checkout):
    template = checkout / ECR
    template.write_text(template.read_text() + "\n# edited in the project\n")
    result = tfgen(checkout, "check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "+# edited in the project" in result.stdout
    assert "--- a/infrastructure/modules/compute/ecr/main.tf" in result.stdout

    result = tfgen(checkout, "render", "--all")
    assert result.returncode == 0, result.stderr
    assert "updated: infrastructure/modules/compute/ecr/main.tf" in result.stdout
    assert "# edited in the project" in (checkout / "generated/infrastructure/modules/compute/ecr/main.tf").read_text()
    assert tfgen(checkout, "check").returncode == 0


def test_a_deleted_template_does_not_come_back_from_the_installed_package(checkout):
    """The installed package still holds destroy.sh.j2 (as a leftover build/ folder would put it
    there); the project no longer does, so its script is no longer generated."""
    (checkout / "templates/scripts/destroy.sh.j2").unlink()
    result = tfgen(checkout, "check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "orphaned: infrastructure/scripts/destroy.sh" in result.stdout
    assert tfgen(checkout, "render", "--all").returncode == 0
    assert not (checkout / "generated/infrastructure/scripts/destroy.sh").exists()


@pytest.mark.parametrize("folder", ["specs", "templates/modules/compute/ecr",
                                    "generated/infrastructure/environments/dev"])
def test_works_from_any_subfolder_of_the_project(checkout, folder):
    result = tfgen(checkout / folder, "check")
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    assert f"{checkout / 'generated/infrastructure'} is up to date" in result.stdout


@pytest.mark.parametrize("command", ["check", "render", "validate", "cost"])
def test_outside_a_project_is_one_line_naming_what_and_where(tmp_path, command):
    (tmp_path / "specs").mkdir()  # specs/ alone does not make a project
    result = tfgen(tmp_path, command)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "specs/ and templates/" in line and str(tmp_path) in line and "--project DIR" in line, line
    assert list(tmp_path.iterdir()) == [tmp_path / "specs"], "nothing may be written"


def test_project_option_from_anywhere(checkout, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = tfgen(elsewhere, "check", "--project", str(checkout))
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    assert list(elsewhere.iterdir()) == []


def test_project_without_templates_renders_the_shipped_ones(tmp_path):
    """--project naming a folder with specs/ only: the templates shipped with tfgen."""
    root = tmp_path / "specs-only"
    shutil.copytree(SPECS, root / "specs")
    result = tfgen(tmp_path, "render", "--all", "--project", str(root))
    assert result.returncode == 0, result.stderr
    assert tree_files(root / "generated") == tree_files(GENERATED)


def test_project_option_must_be_a_project(tmp_path):
    result = tfgen(tmp_path, "check", "--project", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert str(tmp_path / "nowhere") in line and "specs/" in line


def test_help_says_which_templates_are_rendered(cli):
    for command in ("render", "check"):
        code, out, _err = cli(command, "--help")
        assert code == 0
        text = " ".join(out.split())
        assert "--project DIR" in text
        assert "PROJECT/templates" in text and "shipped with tfgen" in text, text


def test_specs_dot_inside_the_specs_folder(cli, project, monkeypatch):
    """`--specs .` from inside specs/: headers name specs/<file> and the tree lands in
    PROJECT/generated, not in a second tree under specs/."""
    shutil.copytree(GENERATED, project / "generated")
    monkeypatch.chdir(project / "specs")
    code, out, err = cli("render", "--all", "--specs", ".")
    assert (code, err) == (0, ""), err
    assert "already up to date" in out
    assert tree_files(project / "generated") == tree_files(GENERATED)
    assert sorted(p.name for p in (project / "specs").iterdir()) == sorted(p.name for p in SPECS.iterdir())

