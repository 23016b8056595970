"""What git knows of the project's files: a revision's files, read with `git show` and never
checked out (what `tfgen cost --against REF` compares with), and which files and lines are newer
than others (where a conflict between two specs is reported). The one module that runs git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from codemate_tfgen.errors import UsageError


def yaml_files_at(ref: str, directory: Path) -> tuple[str, dict[str, str]]:
    """The `.yaml` files of `directory` at revision `ref`: (the directory as `REF:path`, {file
    name: text}). A UsageError when git cannot run or `ref` is not a revision with that folder."""
    root = Path(_git(directory, ref, "rev-parse", "--show-toplevel").strip())
    prefix = directory.resolve().relative_to(root.resolve()).as_posix()
    listing = _git(root, ref, "ls-tree", "--name-only", f"{ref}:{prefix}")
    names = [name for name in listing.splitlines() if name.endswith(".yaml")]
    return f"{ref}:{prefix}", {name: _git(root, ref, "show", f"{ref}:{prefix}/{name}") for name in names}


def _git(cwd: Path, ref: str, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--against {ref}: cannot run git: {exc}") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise UsageError(f"--against {ref}: not a spec file and not a git revision with specs ({reason})")
    return done.stdout


def added_order(directory: Path) -> dict[str, int] | None:
    """The order in which the files of `directory` were added in HEAD's history (larger: added by
    a later commit), by file name; a file no commit has added yet (untracked, or only staged) is
    absent. None when the directory is not in a git work tree or git cannot run."""
    out = _quiet(directory, "log", "--no-renames", "--diff-filter=A", "--format=%x00", "--name-only",
                 "--relative", "--", ".")
    if out is None:
        return None
    order: dict[str, int] = {}
    for age, entry in enumerate(out.split("\0")[1:]):  # newest commit first
        for name in filter(None, entry.split("\n")):
            order.setdefault(name, -age)  # a file added again counts from then
    return order


def changed_lines(path: Path) -> set[int] | None:
    """The lines of a file that differ from HEAD (added or edited in the working tree): the ones
    its user changed last. None when git does not know the file at HEAD (then all of it is new)
    or cannot tell."""
    out = _quiet(path.parent, "diff", "--no-color", "--no-ext-diff", "-U0", "HEAD", "--", path.name)
    if out is None or not out and _quiet(path.parent, "cat-file", "-e", f"HEAD:./{path.name}") is None:
        return None
    lines: set[int] = set()
    for start, count in re.findall(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", out, re.M):
        lines.update(range(int(start), int(start) + (1 if count == "" else int(count))))
    return lines


def _quiet(cwd: Path, *args: str) -> str | None:
    """git's output, or None when it fails: these answers only order reports, never decide them."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
