"""What `tfgen render` and `tfgen check` tell the user about a tree: one place for every line.

The library returns a Drift (tree.compare) and announces a wait for the output lock; these
functions turn them into lines, through the `echo` they are given (click.echo in the CLI), so
the wording of an outcome is the same whichever command reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from codemate_tfgen.errors import Finding, SpecError, SpecProblem, TfgenError, VerificationError

if TYPE_CHECKING:
    from codemate_tfgen.tree import Drift


class Echo(Protocol):
    def __call__(self, message: str = "", *, err: bool = False, nl: bool = True) -> object: ...


CHECK_LABELS = ("changed", "missing", "orphaned")
RENDER_LABELS = ("updated", "created", "removed")
DRY_RUN_LABELS = ("would update", "would create", "would remove")


class Reporter:
    def __init__(self, echo: Echo, tree: str):
        self.echo, self.tree = echo, tree  # tree: the generated tree as the user names it

    def waiting(self) -> Callable[[Path], None]:
        """For pipeline.render_to_disk: said when another render holds the output directory."""
        return lambda out: self.echo(f"tfgen: another render is writing {out}; waiting for it to finish")

    def _paths(self, drift: Drift, labels: tuple[str, str, str]) -> None:
        for label, paths in zip(labels, (drift.changed, drift.missing, drift.orphaned), strict=True):
            for path in paths:
                self.echo(f"{label}: {path}")

    def _replacing(self, drift: Drift) -> None:
        for found in drift.replacing:
            self.echo(f"tfgen: warning: {found}", err=True)

    def rendered(self, drift: Drift, *, dry_run: bool, diff: bool = False) -> None:
        if dry_run:
            for text in drift.changed.values() if diff else ():
                self.echo(text, nl=False)
            self._paths(drift, DRY_RUN_LABELS)
            if not drift.stale:
                self.echo(f"tfgen: nothing would change: {self.tree} is up to date")
        elif drift.stale:
            self._paths(drift, RENDER_LABELS)
            self.echo(f"tfgen: wrote {self.tree}")
        else:
            self.echo(f"tfgen: {self.tree} is already up to date")
        self._replacing(drift)
        # Never removed: tfgen only removes what it generated. Not refused either: a render must
        # stay possible while such a file is there (an experiment, a file about to be moved).
        for path in drift.foreign:
            self.echo(f"tfgen: warning: {path}: a Terraform file tfgen did not generate, among generated ones; "
                      "left as it is, and `tfgen check` fails until it is moved or removed", err=True)

    def checked(self, drift: Drift, command: str) -> None:
        """`command` is the one this run was started as (`tfgen` or `python -m codemate_tfgen`):
        the one that renders with the same code, which matters when the code itself changed."""
        self._replacing(drift)
        if drift.passes_check:
            self.echo(f"tfgen: {self.tree} is up to date")
            return
        for diff in drift.changed.values():
            self.echo(diff, nl=False)
        self._paths(drift, CHECK_LABELS)
        for path in drift.foreign:
            self.echo(f"foreign: {path}")
        if drift.foreign:
            self.echo(f"tfgen: {len(drift.foreign)} Terraform file(s) tfgen did not generate among generated ones: "
                      "Terraform loads them with the generated files; move them out of the tree or remove them",
                      err=True)
        if drift.stale:
            self.echo(f"tfgen: generated files are stale; run `{command} render` and commit the result", err=True)


# --- --format json ----------------------------------------------------------------------------
# One shape for validate, check, render and cost (docs/team-workflow.md): a new key may be added
# within a version; a key renamed, removed or given another meaning is a new version.
JSON_VERSION = 1
ERROR, WARNING = "error", "warning"


def problem(found: SpecProblem, severity: str) -> dict[str, Any]:
    message = found.message.removeprefix("warning: ") if severity == WARNING else found.message
    return {"file": found.location.file, "line": found.location.line, "column": found.location.column,
            "path": found.path, "message": message, "severity": severity}


def finding(found: Finding) -> dict[str, Any]:
    """A verification finding: at the template line that wrote it where it was located (else at
    the generated file's line, or the spec's), with the generated file's line beside it."""
    file, _, line = (found.template or f"{found.file}:{found.line}").rpartition(":")
    return {"file": file, "line": int(line), "column": None, "path": None, "message": found.message,
            "severity": ERROR, "generated": f"{found.file}:{found.line}"}


def unplaced(message: str) -> dict[str, Any]:
    """A problem with no place in a file (a usage error): no location."""
    return {"file": None, "line": None, "column": None, "path": None, "message": message, "severity": ERROR}


def error_problems(exc: TfgenError) -> list[dict[str, Any]]:
    if isinstance(exc, SpecError):  # and what some kinds say after the problems (BrokenSibling: why)
        return [problem(found, ERROR) for found in exc.problems] + [
            unplaced(line) for line in exc.lines()[len(exc.problems):]]
    if isinstance(exc, VerificationError):
        return [finding(found) for found in exc.findings]
    return [unplaced(line) for line in exc.lines()]


def document(problems: Iterable[dict[str, Any]] = (), drift: Drift | None = None, **extra: Any) -> str:
    """The JSON a command prints with --format json: problems (errors, then the specs' warnings),
    the generated files that differ (with their unified diff), are missing, orphaned or foreign,
    and what the command itself adds (cost: its estimates)."""
    body: dict[str, Any] = {
        "version": JSON_VERSION,
        "problems": list(problems),
        "drifted": [{"file": path, "diff": diff} for path, diff in (drift.changed.items() if drift else ())],
        "missing": list(drift.missing) if drift else [],
        "orphaned": list(drift.orphaned) if drift else [],
        "foreign": list(drift.foreign) if drift else [],
    }
    return json.dumps({**body, **extra}, indent=2, ensure_ascii=False)
