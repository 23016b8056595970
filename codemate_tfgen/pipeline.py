"""The steps in their one order: load -> validate -> build context -> render -> verify -> write.

Each step is a plain function; the CLI only chooses which to run and maps errors to exit codes.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from codemate_tfgen import cache, tree
from codemate_tfgen.errors import SpecError, SpecProblem, SpecWarning
from codemate_tfgen.project import Project

if TYPE_CHECKING:
    from codemate_tfgen.spec import Spec

# The steps are imported where they run: a tree answered from the cache (see build) needs none
# of them, nor Jinja, jsonschema or python-hcl2, whose imports would be most of its time.


def select(specs_dir: Path, names: tuple[str, ...]) -> list[str]:
    """The environments a command works on: the ones named, else every spec in the directory."""
    from codemate_tfgen.spec import environment_names

    return list(dict.fromkeys(names)) if names else environment_names(specs_dir)


def load_valid_specs(specs_dir: Path, names: list[str], selected: list[str] | None = None) -> list[Spec]:
    """Load and validate every named environment, reporting the problems of all of them together.

    The rules across environments (validate.topology_problems: accounts, state buckets, zones)
    see every environment of the directory, named or not; one that does not load or validate
    itself is left out of them (its own problems are reported when it is named). A conflict is
    reported at a `selected` environment (default: the named ones), the one a command is about.
    What the valid specs share that they should not is a SpecWarning (see crosscheck).
    """
    specs, shared = _valid_specs(specs_dir, names, selected)
    _warn(shared)
    return specs


def _valid_specs(specs_dir: Path, names: list[str], selected: list[str] | None) -> tuple[list[Spec], list[str]]:
    """load_valid_specs, with its warnings returned instead of issued."""
    from codemate_tfgen import crosscheck
    from codemate_tfgen.spec import environment_names, load_spec
    from codemate_tfgen.validate import topology_problems, validate

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
    return specs, [str(problem) for problem in crosscheck.shared_values(specs)]


def _warn(shared: list[str]) -> None:
    for text in shared:
        warnings.warn(SpecWarning(text), stacklevel=3)


def build(project: Project, names: tuple[str, ...]) -> tuple[dict[str, str], tree.Owners]:
    """Render the project's specs through its templates and verify, in memory. Returns the
    rendered files and the owners they replace.

    With no names every environment is rendered, and files of environments whose spec is gone
    count as orphans; with names, other environments' files are left as they are.

    A build is a pure function of the specs, the templates, the names, the working directory
    (paths in messages) and the installed code, so a clean one is remembered (cache kind
    "built") by the SHA-256 of all of them: the digest of every file it rendered, and its
    warnings. When the tree on disk holds exactly those files, they are the build's result,
    and nothing is loaded, validated, rendered or verified again: the common case of the commit
    hook. Anything else (a changed input, a file on disk that differs) builds afresh, so a
    stale tree is always reported from a fresh render, and findings are never remembered.
    """
    selected = select(project.specs, names)
    owners = {tree.SHARED, *selected} if names else None
    folder = cache.directory("built", *(cache.fingerprint(package) for package in BUILD_CODE), sys.version)
    key = _inputs(project, names) if folder else None
    remembered = cache.get_json(folder, key) if key else None
    if isinstance(remembered, dict):
        files = tree.files_with_digests(project.out, remembered.get("files"))
        if files is not None and isinstance(remembered.get("warnings"), list):
            _warn(remembered["warnings"])
            return files, owners
    files, shared = _build(project, selected)
    if key:
        cache.put_json(folder, key, {"files": {path: cache.key(text) for path, text in files.items()},
                                     "warnings": shared})
    return files, owners


# The installed code a build runs, besides the interpreter: tfgen, and what loads, validates,
# renders and verifies for it (tzdata: the time zones a schedule may name).
BUILD_CODE = ("codemate_tfgen", "yaml", "jsonschema", "jinja2", "markupsafe", "hcl2", "lark", "tzdata")


def _build(project: Project, selected: list[str]) -> tuple[dict[str, str], list[str]]:
    from codemate_tfgen import render as rendering
    from codemate_tfgen.context import build_context
    from codemate_tfgen.spec import environment_names
    from codemate_tfgen.verify import verify

    # The scripts and the top-level README describe every environment, so every spec is
    # loaded (and must be valid) even when only some environments are rendered.
    every, shared = _valid_specs(project.specs, list(dict.fromkeys(selected + environment_names(project.specs))),
                                 selected)
    _warn(shared)
    contexts = [build_context(spec) for spec in every]
    chosen = [context for context in contexts if context.env in selected]
    files = rendering.render(project.templates, chosen, contexts)
    verify(files, [finding for context in chosen for finding in context.unrendered])
    return files, shared


def _inputs(project: Project, names: tuple[str, ...]) -> str | None:
    """The key of a build: every input it reads, or None when one cannot be read as a plain file
    (the build then runs, and reports the problem)."""
    specs = cache.files_digest(project.specs, suffix=".yaml")  # a spec extends only specs of its own folder
    templates = cache.files_digest(project.templates, recursive=True)
    if specs is None or templates is None:
        return None
    return cache.key("\0".join((os.getcwd(), str(project.specs), str(project.templates), *names, "",
                                specs, templates)))


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
