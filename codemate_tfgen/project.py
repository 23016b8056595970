"""Find the project: the folder whose specs/, templates/ and generated/ tfgen works on.

However tfgen was installed, it reads the project's own files: a non-editable install carries a
copy of the templates, and a copy cannot follow an edit (nor forget a deleted file). That copy
is rendered only for a project that has no templates/ folder of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from codemate_tfgen.errors import UsageError, ValueRefused

SPECS, TEMPLATES, OUT = "specs", "templates", "generated"


@dataclass(frozen=True)
class Project:
    root: Path
    specs: Path  # the environment specs
    templates: Path  # the Jinja templates rendered
    out: Path  # the output root; tfgen manages out/infrastructure


def shipped_templates() -> Path:
    """The templates inside the installed package (templates/ ships as codemate_tfgen.templates).
    Imported from a source checkout without installing, that package does not exist and the
    checkout's templates/ beside the package are the shipped ones."""
    try:
        return Path(str(resources.files("codemate_tfgen.templates")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / TEMPLATES


def is_project(folder: Path) -> bool:
    return (folder / SPECS).is_dir() and (folder / TEMPLATES).is_dir()


def find_root(start: Path) -> Path:
    """The nearest folder from `start` upward that holds specs/ and templates/."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if is_project(folder):
            return folder
    raise UsageError(f"{start}: not inside a tfgen project: no folder holding {SPECS}/ and {TEMPLATES}/ there "
                     "or above")


def locate(project: Path | None, specs: Path | None = None, out: Path | None = None) -> Project:
    """The project at `project`, else found from the working directory; `specs` and `out`
    (relative to the working directory, as typed) replace its specs/ and generated/."""
    if project is None:
        root = find_root(Path.cwd())
    elif project.is_dir() and (specs is not None or (project / SPECS).is_dir()):
        root = project.resolve()
    else:
        raise ValueRefused(f"{project}: not a tfgen project: a project is a folder holding {SPECS}/ "
                         f"(and {TEMPLATES}/, else the templates shipped with tfgen are rendered)")
    templates = root / TEMPLATES
    return Project(root, root / SPECS if specs is None else specs,
                   templates if templates.is_dir() else shipped_templates(),
                   root / OUT if out is None else out)
