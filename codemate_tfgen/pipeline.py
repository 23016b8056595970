"""The steps in their one order: load -> validate -> build context -> render -> verify -> write.

Each step is a plain function; the CLI only chooses which to run and maps errors to exit codes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from codemate_tfgen import tree
from codemate_tfgen.errors import SpecError, SpecProblem, SpecWarning
from codemate_tfgen.project import Project
from codemate_tfgen.render import templates as rendering
from codemate_tfgen.render.context import build_context
from codemate_tfgen.spec import crosscheck
from codemate_tfgen.spec.load import Spec, environment_names, load_spec
from codemate_tfgen.spec.validate import topology_problems, validate
from codemate_tfgen.verify.crossref import verify


def select(specs_dir: Path, names: tuple[str, ...]) -> list[str]:
    """The environments a command works on: the ones named, else every spec in the directory."""
    return list(dict.fromkeys(names)) if names else environment_names(specs_dir)


def load_valid_specs(specs_dir: Path, names: list[str], selected: list[str] | None = None) -> list[Spec]:
    """Load and validate every named environment, reporting the problems of all of them together.

    The rules across environments (validate.topology_problems: accounts, state buckets, zones)
    see every environment of the directory, named or not; one that does not load or validate
    itself is left out of them (its own problems are reported when it is named). A conflict is
    reported at a `selected` environment (default: the named ones), the one a command is about.
    What the valid specs share that they should not is a SpecWarning (see crosscheck).
    """
    specs: list[Spec] = []
    others: list[Spec] = []
    problems: list[SpecProblem] = []
    for name in dict.fromkeys(names + environment_names(specs_dir)):  # the named ones first
        if problems and name not in names:
            break  # the others only matter to the rules across environments, which wait for these
        try:
            spec = load_spec(specs_dir, name)
            validate(spec)
        except SpecError as exc:
            if name in names:
                problems.extend(p for p in exc.problems if p not in problems)
            continue
        (specs if name in names else others).append(spec)
    if not problems:
        problems.extend(topology_problems(specs + others, set(names if selected is None else selected)))
    if problems:
        raise SpecError(problems)
    for problem in crosscheck.shared_values(specs):
        warnings.warn(SpecWarning(str(problem)), stacklevel=2)
    return specs


def build(project: Project, names: tuple[str, ...]) -> tuple[dict[str, str], tree.Owners]:
    """Render the project's specs through its templates and verify, in memory. Returns the
    rendered files and the owners they replace.

    With no names every environment is rendered, and files of environments whose spec is gone
    count as orphans; with names, other environments' files are left as they are.
    """
    selected = select(project.specs, names)
    # The scripts and the top-level README describe every environment, so every spec is
    # loaded (and must be valid) even when only some environments are rendered.
    every = load_valid_specs(project.specs, list(dict.fromkeys(selected + environment_names(project.specs))),
                             selected)
    contexts = [build_context(spec) for spec in every]
    chosen = [context for context in contexts if context.env in selected]
    files = rendering.render(project.templates, chosen, contexts)
    verify(files, [finding for context in chosen for finding in context.unrendered])
    return files, ({tree.SHARED, *selected} if names else None)


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
