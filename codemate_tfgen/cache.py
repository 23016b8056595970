"""A per-user cache for results that are pure functions of their inputs (speed only).

Never a correctness risk: an entry is found by the SHA-256 of everything its value depends
on (the input text and the code that computes it), so a changed input is simply a miss.
Anything missing, unreadable, damaged or unwritable also counts as a miss, and the caller
computes the value as if there were no cache. The cache lives in the user's cache directory
($XDG_CACHE_HOME/codemate-tfgen, default ~/.cache/codemate-tfgen), never in the output tree,
so `tfgen check` stays read-only there. TFGEN_NO_CACHE=1 turns it off; TFGEN_NO_CACHE=hcl2,jinja
turns off the kinds it names (KINDS), which is how the benchmark weighs each one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import stat
from functools import cache
from pathlib import Path
from typing import Any

FORMAT = "1"  # bump when the layout or the meaning of an entry changes
# The kinds of entry, and who stores them: parsed .tf files (hcl), the provider schema's entries
# of the resource types in use (tfschema), clean verdicts of a whole tree (verify) and of a spec
# against the JSON Schema (validate), compiled templates (render), the digests of the files a
# clean build rendered from its inputs (pipeline).
KINDS = ("hcl2", "aws-schema", "verified", "schema-valid", "jinja", "built")
MAX_ENTRIES = 5000  # per kind; beyond it the oldest half is dropped when an entry is written


def _off() -> set[str]:
    """The kinds TFGEN_NO_CACHE turns off: those it names, or every one for any other value."""
    setting = os.environ.get("TFGEN_NO_CACHE", "")
    named = set(setting.split(","))
    return set() if not setting else named if named <= set(KINDS) else set(KINDS)


def root() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says relative values are to be ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # no home directory: never fall back to the working directory
        return None
    return Path(base) / "codemate-tfgen"


CODE_SUFFIXES = (".py", ".lark", ".json", ".gz", ".yaml")  # code and the data it reads


@cache
def fingerprint(package: str) -> str:
    """Identifies the installed code of `package` without importing it (imports are what we save).

    Size and modification time of its modules and data change with every edit, install or upgrade.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return "missing"
    digest = hashlib.sha256(package.encode())
    for location in spec.submodule_search_locations:
        for folder, subfolders, names in os.walk(location):
            subfolders[:] = sorted(d for d in subfolders if d not in ("__pycache__", "templates"))
            for name in sorted(names):
                if name.endswith(CODE_SUFFIXES):
                    stat = os.stat(os.path.join(folder, name))
                    where = os.path.relpath(os.path.join(folder, name), location)
                    digest.update(f"|{where}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def directory(kind: str, *depends_on: str) -> Path | None:
    """The directory of one kind of entry, separate for every version of the code it depends on."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}")
    base = root()
    if base is None or kind in _off():
        return None
    namespace = hashlib.sha256("|".join((FORMAT, *depends_on)).encode()).hexdigest()[:16]
    path = base / f"{kind}-{namespace}"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return path


def key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def files_digest(folder: Path, *, suffix: str = "", recursive: bool = False) -> str | None:
    """The SHA-256 of the names and contents of the files in `folder` whose name ends with
    `suffix` (with `recursive`, in its subfolders too, less __pycache__), or None when the folder
    or one of them cannot be read, or is not a plain file or folder (a FIFO is never opened)."""
    digest = hashlib.sha256()
    try:
        for folder_name, subfolders, names in os.walk(folder, onerror=_raise):
            if any(os.path.islink(os.path.join(folder_name, d)) for d in subfolders):
                return None  # a linked folder could be a loop; the build reads through it
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__") if recursive else []
            for name in sorted(n for n in names if n.endswith(suffix)):
                path = os.path.join(folder_name, name)
                if not stat.S_ISREG(os.stat(path).st_mode):
                    return None
                with open(path, "rb") as handle:
                    data = handle.read()
                where = os.path.relpath(path, folder)
                digest.update(f"{len(where)}:{where}{len(data)}:".encode("utf-8", "surrogateescape") + data)
    except OSError:
        return None
    return digest.hexdigest()


def _raise(error: OSError) -> None:
    raise error


def get_json(folder: Path | None, name: str) -> Any | None:
    """The value stored under `name`, or None when there is none (or it cannot be read)."""
    if folder is None:
        return None
    try:
        return json.loads((folder / f"{name}.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def put_json(folder: Path | None, name: str, value: Any) -> None:
    """Store `value` if JSON gives it back exactly (so a hit equals a fresh computation)."""
    if folder is None or not _json_exact(value):
        return
    import tempfile  # only a miss writes

    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(value, handle, separators=(",", ":"))
            os.replace(temp, folder / f"{name}.json")  # readers see the old entry or the whole new one
        except BaseException:
            os.unlink(temp)
            raise
        _prune(folder)
    except (OSError, ValueError, RecursionError):
        pass


def _json_exact(value: Any, depth: int = 0) -> bool:
    """True when json.loads(json.dumps(value)) == value with the same types (no tuples, no NaN)."""
    if depth > 200:
        return False
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_exact(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_exact(v, depth + 1) for k, v in value.items())
    return False


_pruned: set[Path] = set()


def _prune(folder: Path) -> None:
    """Keep the cache bounded: entries of old tree versions are never read again. Once per
    folder and process, on its first write: listing a large folder per write would cost more
    than the cache saves."""
    if folder in _pruned:
        return
    _pruned.add(folder)
    entries = list(os.scandir(folder))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in entries[: len(entries) // 2]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass
