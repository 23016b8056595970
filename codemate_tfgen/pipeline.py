"""The steps in their one order: load -> validate -> build context -> render -> verify -> write.

Each step is a plain function; the CLI only chooses which to run and maps errors to exit codes.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import warnings
from pathlib import Path, PurePosixPath

from codemate_tfgen import cache, tree
from codemate_tfgen.errors import (
    ReplacementRefused,
    SpecProblem,
    SpecWarning,
    TemplateMistake,
    TfgenError,
    UsageError,
    VerificationError,
)
from codemate_tfgen.layout import DESTROYED_RECORD, ROOT
from codemate_tfgen.project import Project

# The steps are imported where they run: a tree answered from the cache (see build) needs none
# of them, nor Jinja, jsonschema or python-hcl2, whose imports would be most of its time.


def build(project: Project, names: tuple[str, ...]) -> tuple[dict[str, str], tree.Owners]:
    """Render the project's specs through its templates and verify, in memory. Returns the
    rendered files and the owners they replace.

    With no names every environment is rendered, and files of environments whose spec is gone
    count as orphans; with names, other environments' files are left as they are.

    The files of a build are a pure function of the specs, the templates, the names, the working
    directory (paths in messages) and the installed code, so a clean build without warnings is
    remembered (cache kind "built") by the SHA-256 of all of them: the digest of every file it
    rendered. (Which environment a warning names also depends on git's history and on the tree
    on disk, see spec.valid.newness: a build with warnings is never remembered.) When the tree
    on disk holds exactly those files, they are the build's result, and nothing is loaded,
    validated, rendered or verified again: the common case of the commit hook. Anything else (a
    changed input, a file on disk that differs) builds afresh, so a stale tree is always
    reported from a fresh render, and findings are never remembered.
    """
    files, owners, _ = _built(project, names)
    return files, owners


def _built(project: Project, names: tuple[str, ...]) -> tuple[dict[str, str], tree.Owners, list | None]:
    """build(), and the spec and context of each environment rendered: None when the tree on disk
    was the answer (it then holds exactly what the specs render, so nothing differs from it)."""
    from codemate_tfgen.spec.valid import select

    selected = select(project.specs, names)
    owners = {tree.SHARED, *selected} if names else None
    folder = cache.directory("built", *(cache.fingerprint(package) for package in BUILD_CODE), sys.version)
    key = _inputs(project, names) if folder else None
    files = tree.files_with_digests(project.out, cache.get_json(folder, key)) if key else None
    if files is not None:
        return files, owners, None
    files, shared, pairs = _build(project, selected)
    if key and not shared:
        cache.put_json(folder, key, {path: cache.key(text) for path, text in files.items()})
    return files, owners, pairs


# The installed code a build runs, besides the interpreter: tfgen, and what loads, validates,
# renders and verifies for it (tzdata: the time zones a schedule may name).
BUILD_CODE = ("codemate_tfgen", "yaml", "jsonschema", "jinja2", "markupsafe", "hcl2", "lark", "tzdata")


def _build(project: Project, selected: list[str]) -> tuple[dict[str, str], list[SpecProblem], list]:
    """The build, the warnings it gave (issued as it went), and the (spec, context) of each
    selected environment."""
    from codemate_tfgen.render import templates as rendering
    from codemate_tfgen.render.context import build_context
    from codemate_tfgen.spec.valid import valid_specs
    from codemate_tfgen.verify.crossref import verify

    # The scripts and the top-level README describe every environment, so every spec is
    # loaded (and must be valid) even when only some environments are rendered.
    every, shared = valid_specs(project.specs, selected, project.out, every=True)
    for problem in shared:
        warnings.warn(SpecWarning(problem), stacklevel=3)
    contexts = [build_context(spec) for spec in every]
    chosen = [context for context in contexts if context.env in selected]
    files = rendering.render(project.templates, chosen, contexts)
    try:
        verify(files, [finding for context in chosen for finding in context.unrendered])
    except VerificationError as exc:
        raise _located(project, chosen, contexts, exc) from None
    return files, shared, [(spec, context) for spec, context in zip(every, contexts, strict=True)
                           if context.env in selected]


def _against_disk(project: Project, names: tuple[str, ...],
                  retiring: frozenset[str] = frozenset()) -> tuple[dict[str, str], tree.Owners, list]:
    """build() for the tree on disk: a root there whose spec is gone is refused (its infrastructure
    may be live, and the scripts would no longer destroy it) unless it is `retiring`; returns
    the changes against that tree that would replace stateful resources (verify.replacing)."""
    from codemate_tfgen.spec.load import environment_names
    from codemate_tfgen.verify.replacing import replacements

    unretired = sorted(tree.environments(project.out) - set(environment_names(project.specs)) - retiring)
    if unretired:
        raise UsageError("\n".join(_missing_spec(project, env) for env in unretired))
    files, owners, pairs = _built(project, names)
    return files, owners, [found for spec, context in pairs or [] for found in replacements(project.out, spec, context)]


def _missing_spec(project: Project, env: str) -> str:
    from codemate_tfgen.spec.load import display_path

    spec = display_path(project.specs / f"{env}.yaml")
    return (f"{display_path(project.out / ROOT / 'environments' / env)}: {spec} is gone, but the tree still holds "
            f"the root of '{env}', whose infrastructure may be live; rendering now would delete that root and drop "
            f"'{env}' from the scripts. Restore {spec} to keep it, or destroy it (scripts/destroy.sh {env}) and "
            f"run `tfgen retire {env}`")


def _inputs(project: Project, names: tuple[str, ...]) -> str | None:
    """The key of a build: every input it reads, or None when one cannot be read as a plain file
    (the build then runs, and reports the problem)."""
    specs = cache.files_digest(project.specs, suffix=".yaml")  # a spec extends only specs of its own folder
    templates = cache.files_digest(project.templates, recursive=True)
    if specs is None or templates is None:
        return None
    return cache.key("\0".join((os.getcwd(), str(project.specs), str(project.templates), *names, "",
                                specs, templates)))


def _located(project: Project, chosen: list, contexts: list, exc: VerificationError) -> TfgenError:
    """The findings with the template line that wrote each (the render again, traced: paid only
    when verification failed). A reference to a variable its module never declares is the
    template's mistake: reported at that template line (exit 2) with the variables there are. The
    other findings stay the tree's (exit 1), each naming its template line."""
    from dataclasses import replace

    from codemate_tfgen.render import templates as rendering
    from codemate_tfgen.spec.load import display_path, suggestion

    with rendering.tracing() as origins:
        files = rendering.render(project.templates, chosen, contexts)
    mistakes: dict[str, None] = {}
    located = []
    for finding in exc.findings:
        traced = origins.get(finding.file, [])
        origin = traced[finding.line - 1] if 0 < finding.line <= len(traced) else None
        if origin is None:  # a spec's line, the header, or a file no template wrote
            located.append(finding)
            continue
        source = rendering.source_of(project.templates, origin)
        if finding.undeclared is None:
            located.append(replace(finding, template=f"{display_path(source)}:{origin.line}"))
            continue
        written = source.read_text("utf-8").split("\n")[origin.line - 1]
        column = re.search(rf"\bvar\.{re.escape(finding.undeclared)}(?![\w-])", written)
        declared = re.findall(r'^variable "([\w-]+)"', files.get(finding.file.rpartition("/")[0] + "/variables.tf",
                                                                  ""), re.M)
        hint = suggestion(finding.undeclared, declared, known="declared")
        mistakes[f"{display_path(source)}:{origin.line}:{column.start() + 1 if column else 1}: "
                 f"var.{finding.undeclared} is not declared in the module's variables.tf{hint}"] = None
    if not mistakes:
        return VerificationError(located)
    return TemplateMistake(list(mistakes) + [f"verification: {finding}" for finding in located])


# The generated GitHub Actions workflows, and where a repository installs them: GitHub reads
# workflows only from .github/workflows at the repository's root.
WORKFLOWS, INSTALLED_WORKFLOWS = ROOT / "ci" / "github" / "workflows", PurePosixPath(".github/workflows")


def _stale_installed(project: Project, files: dict[str, str]) -> dict[Path, str]:
    """The installed copies of generated workflows that differ from the render: {copy: the
    rendered text}. A workflow that was never installed is left alone (installing it is the
    team's choice, docs/team-workflow.md); one that was is kept current like the tree."""
    stale = {}
    for path, text in files.items():
        if PurePosixPath(path).parent == WORKFLOWS:
            copy = project.root / INSTALLED_WORKFLOWS / PurePosixPath(path).name
            if copy.is_file() and copy.read_bytes().decode("utf-8", errors="replace") != text:
                stale[copy] = text
    return stale


def _installed_drift(project: Project, stale: dict[Path, str]) -> dict[str, str]:
    """The unified diff of each stale installed copy, by its path from the output root."""
    changed = {}
    for copy, text in stale.items():
        shown = os.path.relpath(copy, project.out)
        current = copy.read_bytes().decode("utf-8", errors="replace")
        changed[shown] = "".join(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                                      fromfile=f"a/{shown}", tofile=f"b/{shown}"))
    return changed


def render_to_disk(project: Project, names: tuple[str, ...], waiting: tree.Waiting = tree.unannounced,
                   allow_replace: bool = False) -> tree.Drift:
    """Render, verify, then replace the tree in one atomic step. Returns what changed, with the
    changes that replace stateful resources; `waiting` is told when another render holds the
    output directory. Such a change of a protected environment (and a blue/green service's port,
    anywhere) is refused without `allow_replace`, and nothing is written."""
    files, owners, replacing = _against_disk(project, names)
    refused = [str(found) for found in replacing if found.refused and not allow_replace]
    if refused:
        raise ReplacementRefused(refused)
    stale = _stale_installed(project, files)
    drift = tree.update_tree(project.out, files, owners, waiting)
    drift.changed.update(_installed_drift(project, stale))
    for copy, text in stale.items():  # after the tree: a failed render leaves the copy as it was
        staged = copy.with_name(f".{copy.name}.tfgen")
        staged.write_text(text, "utf-8")
        os.replace(staged, copy)
    drift.replacing = replacing
    return drift


def retire(project: Project, envs: tuple[str, ...], waiting: tree.Waiting = tree.unannounced) -> tree.Drift:
    """Remove the roots of environments whose spec was removed (after their destroy), and render
    the rest: the one way an environment leaves the tree."""
    from codemate_tfgen.spec.load import display_path, environment_names

    on_disk, specs = tree.environments(project.out), environment_names(project.specs)
    for env in envs:
        if env in specs:
            raise UsageError(f"{display_path(project.specs / f'{env}.yaml')}: '{env}' still has a spec; destroy "
                             f"it (scripts/destroy.sh {env}), remove the spec, then retire it")
        if env not in on_disk:
            raise UsageError(f"{display_path(project.out / ROOT)}: holds no root of '{env}' to retire "
                             f"(environments: {', '.join(sorted(on_disk)) or 'none'})")
        record = project.out / ROOT / "environments" / env / DESTROYED_RECORD
        if not record.is_file():
            raise UsageError(f"{display_path(record.parent)}: no record that '{env}' was destroyed "
                             f"({DESTROYED_RECORD}, which scripts/destroy.sh {env} writes once the state holds "
                             f"nothing); run scripts/destroy.sh {env} first (its spec removed, the script still "
                             "knows it)")
    files, owners, _ = _against_disk(project, (), frozenset(envs))
    drift = tree.update_tree(project.out, files, owners, waiting)
    tree.forget_records(project.out, envs)
    return drift


def check(project: Project, names: tuple[str, ...]) -> tree.Drift:
    """Compare the tree on disk with a fresh render (read-only), naming the changes that would
    replace stateful resources."""
    files, owners, replacing = _against_disk(project, names)
    files[tree.MANIFEST] = tree.desired_tree(project.out, files, owners)[tree.MANIFEST]
    drift = tree.compare(project.out, files, owners)
    drift.changed.update(_installed_drift(project, _stale_installed(project, files)))
    drift.replacing = replacing
    return drift
