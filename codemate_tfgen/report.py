"""What `tfgen render` and `tfgen check` tell the user about a tree: one place for every line.

The library returns a Drift (tree.compare) and announces a wait for the output lock; these
functions turn them into lines, through the `echo` they are given (click.echo in the CLI), so
the wording of an outcome is the same whichever command reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

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

    def rendered(self, drift: Drift, *, dry_run: bool) -> None:
        if dry_run:
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
