"""The steps in their one order: load -> validate -> build context -> render -> verify -> write.

Each step is a plain function; the CLI only chooses which to run and maps errors to exit codes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from codemate_tfgen import crosscheck, tree
from codemate_tfgen import render as rendering
from codemate_tfgen.context import Context, build_context
from codemate_tfgen.errors import SpecError, SpecProblem, SpecWarning, UsageError
from codemate_tfgen.layout import ROOT
from codemate_tfgen.project import Project
from codemate_tfgen.replacing import Replacement, replacements
from codemate_tfgen.spec import Spec, display_path, environment_names, load_spec
from codemate_tfgen.validate import topology_problems, validate
from codemate_tfgen.verify import verify


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
    files, owners, _ = _rendered(project, names)
    return files, owners


def _rendered(project: Project, names: tuple[str, ...]) -> tuple[dict[str, str], tree.Owners,
                                                               list[tuple[Spec, Context]]]:
    """build(), and the spec and context of each environment rendered."""
    selected = select(project.specs, names)
    # The scripts and the top-level README describe every environment, so every spec is
    # loaded (and must be valid) even when only some environments are rendered.
    every = load_valid_specs(project.specs, list(dict.fromkeys(selected + environment_names(project.specs))),
                             selected)
    contexts = [build_context(spec) for spec in every]
    chosen = [context for context in contexts if context.env in selected]
    files = rendering.render(project.templates, chosen, contexts)
    verify(files, [finding for context in chosen for finding in context.unrendered])
    pairs = [(spec, context) for spec, context in zip(every, contexts, strict=True) if context.env in selected]
    return files, ({tree.SHARED, *selected} if names else None), pairs


def _against_disk(project: Project, names: tuple[str, ...],
                  retiring: frozenset[str] = frozenset()) -> tuple[dict[str, str], tree.Owners, list[Replacement]]:
    """build() for the tree on disk: a root there whose spec is gone is refused (its infrastructure
    may be live, and the scripts would no longer destroy it) unless it is `retiring`; returns
    the changes against that tree that would replace stateful resources."""
    unretired = sorted(tree.environments(project.out) - set(environment_names(project.specs)) - retiring)
    if unretired:
        raise UsageError("\n".join(_missing_spec(project, env) for env in unretired))
    files, owners, pairs = _rendered(project, names)
    return files, owners, [found for spec, context in pairs for found in replacements(project.out, spec, context)]


def _missing_spec(project: Project, env: str) -> str:
    spec = display_path(project.specs / f"{env}.yaml")
    return (f"{display_path(project.out / ROOT / 'environments' / env)}: {spec} is gone, but the tree still holds "
            f"the root of '{env}', whose infrastructure may be live; rendering now would delete that root and drop "
            f"'{env}' from the scripts. Restore {spec} to keep it, or destroy it (scripts/destroy.sh {env}) and "
            f"run `tfgen retire {env}`")


def render_to_disk(project: Project, names: tuple[str, ...], waiting: tree.Waiting = tree.unannounced,
                   allow_replace: bool = False) -> tree.Drift:
    """Render, verify, then replace the tree in one atomic step. Returns what changed, with the
    changes that replace stateful resources; `waiting` is told when another render holds the
    output directory. Such a change of a protected environment is refused without
    `allow_replace`, and nothing is written."""
    files, owners, replacing = _against_disk(project, names)
    refused = [str(found) for found in replacing if found.protected and not allow_replace]
    if refused:
        raise UsageError("\n".join([*refused, "tfgen: these changes replace stateful resources of a protected "
                                    "environment (database deletion protection on); make them the safe way, or "
                                    "render with --allow-replace once the data is safe"]))
    drift = tree.update_tree(project.out, files, owners, waiting)
    drift.replacing = replacing
    return drift


def retire(project: Project, envs: tuple[str, ...], waiting: tree.Waiting = tree.unannounced) -> tree.Drift:
    """Remove the roots of environments whose spec was removed (after their destroy), and render
    the rest: the one way an environment leaves the tree."""
    on_disk, specs = tree.environments(project.out), environment_names(project.specs)
    for env in envs:
        if env in specs:
            raise UsageError(f"{display_path(project.specs / f'{env}.yaml')}: '{env}' still has a spec; destroy "
                             f"it (scripts/destroy.sh {env}), remove the spec, then retire it")
        if env not in on_disk:
            raise UsageError(f"{display_path(project.out / ROOT)}: holds no root of '{env}' to retire "
                             f"(environments: {', '.join(sorted(on_disk)) or 'none'})")
    files, owners, _ = _against_disk(project, (), frozenset(envs))
    return tree.update_tree(project.out, files, owners, waiting)


def check(project: Project, names: tuple[str, ...]) -> tree.Drift:
    """Compare the tree on disk with a fresh render (read-only), naming the changes that would
    replace stateful resources."""
    files, owners, replacing = _against_disk(project, names)
    files[tree.MANIFEST] = tree.desired_tree(project.out, files, owners)[tree.MANIFEST]
    drift = tree.compare(project.out, files, owners)
    drift.replacing = replacing
    return drift
