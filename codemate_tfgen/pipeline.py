"""The steps in their one order: load -> validate -> build context -> render -> verify -> write.

Each step is a plain function; the CLI only chooses which to run and maps errors to exit codes.
"""

from __future__ import annotations

import re

from codemate_tfgen import tree
from codemate_tfgen.errors import (
    TemplateMistake,
    TfgenError,
    VerificationError,
)
from codemate_tfgen.project import Project
from codemate_tfgen.render import templates as rendering
from codemate_tfgen.render.context import build_context
from codemate_tfgen.spec.load import suggestion
from codemate_tfgen.spec.valid import load_valid_specs, select
from codemate_tfgen.verify.crossref import verify


def build(project: Project, names: tuple[str, ...]) -> tuple[dict[str, str], tree.Owners]:
    """Render the project's specs through its templates and verify, in memory. Returns the
    rendered files and the owners they replace.

    With no names every environment is rendered, and files of environments whose spec is gone
    count as orphans; with names, other environments' files are left as they are.
    """
    selected = select(project.specs, names)
    # The scripts and the top-level README describe every environment, so every spec is
    # loaded (and must be valid) even when only some environments are rendered.
    every = load_valid_specs(project.specs, selected, project.out, every=True)
    contexts = [build_context(spec) for spec in every]
    chosen = [context for context in contexts if context.env in selected]
    files = rendering.render(project.templates, chosen, contexts)
    try:
        verify(files, [finding for context in chosen for finding in context.unrendered])
    except VerificationError as exc:
        raise _in_templates(project, files, exc) from None
    return files, ({tree.SHARED, *selected} if names else None)


_UNDECLARED = re.compile(r"^(?P<file>[^:]+): .*: var\.(?P<name>\w+) is not declared$")


def _in_templates(project: Project, files: dict[str, str], exc: VerificationError) -> TfgenError:
    """A reference to a variable the module never declares is written in a template: the
    template's mistake, reported at the template line (exit 2) with the variables there are. The
    other findings stay the tree's."""
    mistakes: dict[str, None] = {}
    rest = []
    for finding in exc.findings:
        match = _UNDECLARED.match(finding)
        folder = match and rendering.template_folder(project.templates, match["file"])
        places = rendering.written_at(folder, re.compile(rf"\bvar\.{match['name']}(?![\w-])")) if folder else []
        if not places:
            rest.append(finding)
            continue
        declared = re.findall(r'^variable "([\w-]+)"', files.get(match["file"].rpartition("/")[0] + "/variables.tf",
                                                                    ""), re.M)
        hint = suggestion(match["name"], declared, known="declared")
        for template, line, column in places:
            mistakes[f"{template}:{line}:{column}: var.{match['name']} is not declared in the module's "
                     f"variables.tf{hint}"] = None
    if not mistakes:
        return exc
    return TemplateMistake(list(mistakes) + [f"verification: {finding}" for finding in rest])


def render_to_disk(project: Project, names: tuple[str, ...],
                   waiting: tree.Waiting = tree.unannounced) -> tree.Drift:
    """Render, verify, then replace the tree in one atomic step. Returns what changed;
    `waiting` is told when another render holds the output directory."""
    files, owners = build(project, names)
    return tree.update_tree(project.out, files, owners, waiting)


def check(project: Project, names: tuple[str, ...]) -> tree.Drift:
    """Compare the tree on disk with a fresh render (read-only)."""
    files, owners = build(project, names)
    files[tree.MANIFEST] = tree.desired_tree(project.out, files, owners)[tree.MANIFEST]
    return tree.compare(project.out, files, owners)
