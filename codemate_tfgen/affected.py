"""Which environments a change touches: `tfgen affected`.

Both sides are rendered, not guessed from the changed paths: the working tree in memory, the
revision from an export of it with the revision's own specs, templates and (when the repository
holds it) tfgen code. An environment is affected when the Terraform its root loads differs: the
root's files or those of any module it calls, directly or through another module. Documentation
(README.md) and the scripts are not Terraform and plan nothing. The reasons name the inputs that
changed and feed the environment: its spec files, templates, the modules it calls, tfgen's code.
An environment the revision has and the working tree no longer specifies is listed as "spec
removed": its infrastructure is still there, and its destroy is due.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codemate_tfgen import gitrefs, pipeline
from codemate_tfgen.errors import UsageError
from codemate_tfgen.layout import ROOT
from codemate_tfgen.project import Project
from codemate_tfgen.spec.load import load_spec
from codemate_tfgen.tree import TERRAFORM_SUFFIXES

ENVIRONMENTS, MODULES = ROOT / "environments", ROOT / "modules"
CODE = "codemate_tfgen"
# Templates of documentation and scripts: never the reason a plan changes.
_NOT_TERRAFORM = (".md.j2", ".sh.j2")
_SOURCE = re.compile(r'^\s*source\s*=\s*"(\.{1,2}/[^"]*)"', re.MULTILINE)


@dataclass(frozen=True)
class Affected:
    environment: str
    # e.g. "spec specs/dev.yaml", "module networking/vpc", "new environment", "spec removed"
    reasons: list[str]

    def as_json(self) -> dict[str, object]:
        return {"environment": self.environment, "reasons": self.reasons}


def affected(project: Project, ref: str | None) -> tuple[str, list[Affected]]:
    """(the revision compared with, the environments of the working tree whose Terraform differs
    from that revision's, by name). `ref` None: the merge base with the default branch."""
    since = gitrefs.default_base(project.root) if ref is None else ref
    after = _terraform(pipeline.build(project, ())[0])
    with gitrefs.exported(since, project.root) as (repository, inside):
        root = repository / inside
        specs = root / _inside(project.specs, project.root)
        out = repository / ".tfgen-affected"  # inside the export, which goes with it
        gitrefs.render_with_own_code(repository, root, specs, out, since)
        before = _terraform({path.relative_to(out).as_posix(): path.read_text("utf-8")
                             for path in (out / ROOT).rglob("*") if path.is_file()})
        inputs = _changed_inputs(project, repository, inside, specs)
    # An environment whose spec is gone has no root left to plan: it is listed for its destroy.
    retired = {env: Affected(env, ["spec removed"]) for env in set(_environments(before)) - set(_environments(after))}
    found = {env: change for env in _environments(after)
             if (change := _compare(project, env, before, after, inputs)) is not None}
    return since, [entry for _, entry in sorted({**found, **retired}.items())]


def _inside(path: Path, root: Path) -> PurePosixPath:
    try:
        return PurePosixPath(path.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        raise UsageError(f"{path}: outside the project {root}; the revision's copy cannot be found") from None


def _terraform(files: dict[str, str]) -> dict[str, str]:
    """The files Terraform loads: what a plan depends on."""
    return {path: text for path, text in files.items() if path.endswith(TERRAFORM_SUFFIXES)}


def _environments(files: dict[str, str]) -> list[str]:
    prefix = f"{ENVIRONMENTS}/"
    return sorted({path.removeprefix(prefix).split("/")[0] for path in files if path.startswith(prefix)})


def _folder(files: dict[str, str], folder: PurePosixPath) -> dict[str, str]:
    prefix = f"{folder}/"
    return {path: text for path, text in files.items() if path.startswith(prefix) and "/" not in path[len(prefix):]}


def _modules_called(files: dict[str, str], folder: PurePosixPath) -> set[PurePosixPath]:
    """The module folders a folder's Terraform calls by local path, and the ones they call."""
    found: set[PurePosixPath] = set()
    todo = [folder]
    while todo:
        current = todo.pop()
        for text in _folder(files, current).values():
            for source in _SOURCE.findall(text):
                called = _normal(current / source)
                if called not in found:
                    found.add(called)
                    todo.append(called)
    return found


def _normal(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def _changed_inputs(project: Project, repository: Path, inside: PurePosixPath,
                    specs: Path) -> dict[str, list[str]]:
    """The input files that differ between the working tree and the export, by kind, as paths
    relative to the project (to the repository for tfgen's code, which sits at its top)."""
    top = project.root.resolve().parents[len(inside.parts) - 1] if inside.parts else project.root
    pairs = {"spec": (project.specs, specs, _inside(project.specs, project.root)),
             "template": (project.root / "templates", repository / inside / "templates", PurePosixPath("templates")),
             "tfgen code": (top / CODE, repository / CODE, PurePosixPath(CODE))}
    return {kind: _differing(now, then, label) for kind, (now, then, label) in pairs.items()}


def _differing(now: Path, then: Path, label: PurePosixPath) -> list[str]:
    def files(folder: Path) -> dict[str, bytes]:
        if not folder.is_dir():
            return {}
        return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*")
                if path.is_file() and "__pycache__" not in path.parts}

    a, b = files(now), files(then)
    return [f"{label}/{name}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]


def _compare(project: Project, env: str, before: dict[str, str], after: dict[str, str],
             inputs: dict[str, list[str]]) -> Affected | None:
    folder = ENVIRONMENTS / env
    if not _folder(before, folder):
        return Affected(env, ["new environment"])
    modules = sorted(_modules_called(after, folder) | _modules_called(before, folder))
    changed_modules = [m for m in modules if _folder(before, m) != _folder(after, m)]
    root_changed = _folder(before, folder) != _folder(after, folder)
    if not root_changed and not changed_modules:
        return None
    reasons: list[str] = []
    if root_changed:
        spec_files = {f"{_inside(project.specs, project.root)}/{path.name}"
                      for path in load_spec(project.specs, env).files}
        reasons += [f"spec {path}" for path in inputs["spec"] if path in spec_files]
    module_templates = [f"templates/{m.relative_to(ROOT)}/" for m in changed_modules]
    for path in inputs["template"]:
        if path.endswith(_NOT_TERRAFORM):
            continue
        in_module = path.startswith("templates/modules/")
        if (root_changed and not in_module) or any(path.startswith(t) for t in module_templates) \
                or (in_module and path.endswith("/module.yaml") and root_changed):
            reasons.append(f"template {path}")
    reasons += [f"module {m.relative_to(MODULES)}" for m in changed_modules]
    reasons += [f"tfgen code {path}" for path in inputs["tfgen code"]]
    return Affected(env, reasons)
