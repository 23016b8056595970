"""Files of a git revision, read with `git show` and never checked out: what `tfgen cost
--against REF` compares with. The one module that runs git."""

from __future__ import annotations

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
