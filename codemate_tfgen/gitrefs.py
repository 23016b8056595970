"""What git knows of the project's files: a revision's files, read with `git show` or `git archive`
and never checked out (what `tfgen cost --against REF` and `tfgen affected --since REF` compare
with), and which files and lines are newer than others (where a conflict between two specs is
reported). The one module that runs git (and a revision's own tfgen, which renders that
revision)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from codemate_tfgen.errors import ValueRefused


def yaml_files_at(ref: str, directory: Path) -> tuple[str, dict[str, str]]:
    """The `.yaml` files of `directory` at revision `ref`: (the directory as `REF:path`, {file
    name: text}). A ValueRefused when git cannot run or `ref` is not a revision with that folder."""
    refused = "not a spec file and not a git revision with specs"
    root = _toplevel(directory, ref, refused)
    prefix = directory.resolve().relative_to(root).as_posix()
    listing = _git(root, ref, "ls-tree", "--name-only", f"{ref}:{prefix}", refused=refused)
    names = [name for name in listing.splitlines() if name.endswith(".yaml")]
    return f"{ref}:{prefix}", {name: _git(root, ref, "show", f"{ref}:{prefix}/{name}", refused=refused)
                               for name in names}


def _git(cwd: Path, what: str, *args: str, binary: bool = False, refused: str = "") -> Any:
    """git's output (text, or bytes when `binary`); `what` names the revision the user gave, for
    the one-line error when git cannot run or refuses (`refused`: what that means, before git's
    own reason). The CLI names the option that gave it."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=not binary, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueRefused(f"{what}: cannot run git: {exc}") from None
    if done.returncode != 0:
        stderr = done.stderr if isinstance(done.stderr, str) else done.stderr.decode("utf-8", "replace")
        reason = (stderr.strip().splitlines() or ["git failed"])[-1]
        raise ValueRefused(f"{what}: {refused} ({reason})" if refused else f"{what}: {reason}")
    return done.stdout


def default_base(directory: Path) -> str:
    """The merge base of HEAD with the default branch: origin's HEAD when the clone knows it, else a
    local `main` or `master`. What `tfgen affected` compares with when given no revision."""
    root = _toplevel(directory, "the default branch")
    try:
        branch = _git(root, "the default branch", "symbolic-ref", "--short", "refs/remotes/origin/HEAD").strip()
    except ValueRefused:
        branch = next((name for name in ("main", "master")
                       if _succeeds(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}")), "")
    if not branch:
        raise ValueRefused("no default branch to compare with (no origin/HEAD, main or master); name a revision")
    return _git(root, f"the merge base with {branch}", "merge-base", "HEAD", branch).strip()


@contextlib.contextmanager
def exported(ref: str, directory: Path) -> Iterator[tuple[Path, PurePosixPath]]:
    """The files of revision `ref` of the repository holding `directory`, written to a temporary
    folder (git archive: nothing is checked out, no worktree is registered). Yields that folder,
    which stands for the repository's top level, and `directory` relative to the top level."""
    root = _toplevel(directory, ref)
    inside = PurePosixPath(directory.resolve().relative_to(root).as_posix())
    archive = _git(root, ref, "archive", "--format=tar", f"{ref}^{{tree}}", binary=True)
    with tempfile.TemporaryDirectory(prefix="tfgen-ref-") as temp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(temp, filter="data")
        yield Path(temp), inside


def render_with_own_code(repository: Path, project: Path, specs: Path, out: Path, ref: str) -> None:
    """Render `project` (inside an exported `repository`) into `out` with the tfgen of that
    revision when the repository holds tfgen's own code (a change of the code is a change of the
    output), else with this tfgen. A revision that does not render is the user's to fix."""
    own = (repository / "codemate_tfgen" / "__init__.py").is_file()
    code = repository if own else Path(__file__).resolve().parent.parent  # first on the path: it wins
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "codemate_tfgen", "render", "--all", "--project", str(project),
               "--specs", str(specs), "--out", str(out)]
    try:
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueRefused(f"{ref}: cannot render the revision: {exc}") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise ValueRefused(f"{ref}: the revision does not render: {reason}")


def _toplevel(directory: Path, what: str, refused: str = "") -> Path:
    return Path(_git(directory, what, "rev-parse", "--show-toplevel", refused=refused).strip()).resolve()


def _succeeds(cwd: Path, *args: str) -> bool:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


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
