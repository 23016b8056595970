"""The steps in their one order: load -> validate -> build context -> render -> verify -> write.

Each step is a plain function; the CLI only chooses which to run and maps errors to exit codes.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from codemate_tfgen import gitrefs, tree
from codemate_tfgen.errors import (
    BrokenSibling,
    SpecError,
    SpecProblem,
    SpecWarning,
    TemplateMistake,
    TfgenError,
    VerificationError,
)
from codemate_tfgen.layout import ROOT
from codemate_tfgen.project import Project
from codemate_tfgen.render import templates as rendering
from codemate_tfgen.render.context import build_context
from codemate_tfgen.spec import crosscheck
from codemate_tfgen.spec.load import Spec, environment_names, load_spec, suggestion
from codemate_tfgen.spec.validate import topology_problems, validate
from codemate_tfgen.verify.crossref import verify


def select(specs_dir: Path, names: tuple[str, ...]) -> list[str]:
    """The environments a command works on: the ones named, else every spec in the directory."""
    return list(dict.fromkeys(names)) if names else environment_names(specs_dir)


def load_valid_specs(specs_dir: Path, names: list[str], out: Path | None = None, *,
                     every: bool = False) -> list[Spec]:
    """Load and validate every named environment, reporting the problems of all of them together.

    The rules across environments (validate.topology_problems: accounts, hosts, state buckets,
    zones) see every environment of the directory, named or not, so one that does not load or
    validate stops them: its own problems are reported (BrokenSibling), never a conclusion drawn
    without it. A conflict, and what the valid specs share that they should not (a SpecWarning,
    see crosscheck), is reported at the newer environment (`newness`; `out` is the output root
    whose generated tree knows the older ones). Returns the named specs, or with `every` all of
    them (the named first).
    """
    specs: list[Spec] = []
    others: list[Spec] = []
    problems: list[SpecProblem] = []
    broken: dict[str, list[SpecProblem]] = {}
    for name in dict.fromkeys(names + environment_names(specs_dir)):  # the named ones first
        if problems and name not in names:
            break  # the others only matter to the rules across environments, which wait for these
        try:
            spec = load_spec(specs_dir, name)
            validate(spec)
        except SpecError as exc:
            if name in names:
                problems.extend(p for p in exc.problems if p not in problems)
            else:
                broken[name] = exc.problems
            continue
        (specs if name in names else others).append(spec)
    if problems:
        raise SpecError(problems)
    if broken:
        raise BrokenSibling([p for found in broken.values() for p in found], list(broken), names)
    newer = newness(specs_dir, out, names)
    problems.extend(topology_problems(specs + others, newer))
    if problems:
        raise SpecError(problems)
    for problem in crosscheck.shared_values(specs + others if every else specs, newer):
        warnings.warn(SpecWarning(str(problem)), stacklevel=2)
    return specs + others if every else specs


def newness(specs_dir: Path, out: Path | None, selected: list[str]) -> Callable[[Spec], tuple]:
    """A sort key putting the environment a user added last at the end: a spec git has not
    committed yet, else the one committed later; else one the generated tree does not have yet;
    else one the command names; else the later name. git is asked only when two specs conflict."""
    ages = functools.cache(lambda: gitrefs.added_order(specs_dir) or {})

    def key(spec: Spec) -> tuple:
        file = Path(spec.files[-1]).name
        known = out is not None and (out / ROOT / "environments" / spec.name).is_dir()
        return ages().get(file, math.inf) if ages() else 0, not known, spec.name in selected, spec.name

    return key


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
