"""Write and compare: the generated tree on disk against the one rendered in memory.

The managed tree is `<out>/infrastructure`. A render builds the complete new tree in a
staging directory beside it (unmanaged files such as .terraform/ or a lock file are
hard-linked across unchanged), then swaps the two directories in one atomic rename. A
failure or a kill at any moment leaves either the old tree or the new one, never a mix.
A manifest inside the tree records which files tfgen owns, so files it no longer
generates are removed and files it never generated are never touched.
"""

from __future__ import annotations

import difflib
import errno
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codemate_tfgen import cache
from codemate_tfgen.errors import UsageError
from codemate_tfgen.layout import DESTROYED_RECORD, MANIFEST, ROOT

STAGING_PREFIX = ".tfgen-staging-"
SHARED = "shared"
# The owners a render replaces: a set of environment names plus SHARED, or None for all.
Owners = set[str] | None


def _owned(entry_owner: str | None, owners: Owners) -> bool:
    return owners is None or entry_owner in owners


def owner(path: str) -> str:
    """Which render owns a file: an environment name, or `shared` (modules, scripts, docs)."""
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "environments":
        return parts[2]
    return SHARED


def manifest_text(files: dict[str, str]) -> str:
    entries = {
        path: {"owner": owner(path), "sha256": hashlib.sha256(text.encode()).hexdigest()}
        for path, text in sorted(files.items())
    }
    body = {"generator": "codemate-tfgen", "note": "Files tfgen owns; do not edit.", "files": entries}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text("utf-8"))
        files = dict(body["files"])
        for name, entry in files.items():
            _check_manifest_entry(name, entry)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: manifest is damaged ({exc}); restore it from version control") from None
    return files


def environments(out: Path) -> set[str]:
    """The environments whose root the tree on disk holds, by its manifest."""
    return {entry["owner"] for entry in read_manifest(out).values()} - {SHARED}


def _check_manifest_entry(name: str, entry: dict[str, str]) -> None:
    """Manifest paths are joined to the output root: one naming `..` or an absolute path would
    make a render read or write outside it, so such a manifest counts as damaged."""
    parts = name.split("/")
    if parts[0] != ROOT.name or len(parts) < 2 or any(p in ("", ".", "..") for p in parts) or "\0" in name:
        raise ValueError(f"{name!r} is not a path inside {ROOT}")
    if not isinstance(entry, dict) or not isinstance(entry.get("owner"), str):
        raise ValueError(f"{name!r} has no owner")


def desired_tree(out: Path, rendered: dict[str, str], owners: Owners) -> dict[str, str]:
    """The full managed tree after rendering `owners`: files of other environments stay as they are."""
    old = read_manifest(out)
    tree = dict(rendered)
    for path, entry in old.items():
        if not _owned(entry.get("owner"), owners) and path not in tree:
            current = out / path
            if current.is_file() and not current.is_symlink():
                tree[path] = current.read_text("utf-8")
    tree.pop(MANIFEST, None)
    tree[MANIFEST] = manifest_text(tree)
    return dict(sorted(tree.items()))


# --- check ----------------------------------------------------------------------------------


def files_with_digests(out: Path, digests: object) -> dict[str, str] | None:
    """The files at the paths of {path: cache.key of its text} under `out` when each is there, a
    file as compare reads it (not a link), with exactly that text; else None."""
    if not isinstance(digests, dict):
        return None
    files: dict[str, str] = {}
    for path, digest in digests.items():
        if not isinstance(path, str) or PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
            return None
        target = out / path
        try:
            if not target.is_file() or target.is_symlink():
                return None
            text = target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if cache.key(text) != digest:
            return None
        files[path] = text
    return files


@dataclass
class Drift:
    changed: dict[str, str]  # path -> unified diff
    missing: list[str]
    orphaned: list[str]
    foreign: list[str]  # Terraform files tfgen did not generate, in folders of generated ones
    # Spec changes that replace stateful resources (replacing.Replacement), found by the pipeline
    replacing: list = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.orphaned)

    @property
    def passes_check(self) -> bool:
        """Nothing stale and no foreign file: what `tfgen check` exits 0 for."""
        return not self.stale and not self.foreign


# What Terraform (or OpenTofu) reads from a module's folder: configuration, and variables
# (*.auto.tfvars without being named). Terraform's own files (.terraform/, the lock file,
# plans, state) end otherwise, and it ignores names starting with "." or "#" or ending in "~".
TERRAFORM_SUFFIXES = (".tf", ".tf.json", ".tofu", ".tofu.json", ".tfvars", ".tfvars.json")


def foreign_files(out: Path, rendered: dict[str, str], owners: Owners) -> list[str]:
    """Terraform files in the folders of the generated Terraform of `owners` that tfgen did not
    generate: Terraform would load them with the generated files, so the tree is not what the
    specs say. Only a module's own folder counts (Terraform does not read subfolders)."""
    folders = {path.rpartition("/")[0] for path in rendered if path.endswith(".tf") and _owned(owner(path), owners)}
    found = []
    for folder in sorted(folders):
        directory = out / folder
        if directory.is_symlink() or not directory.is_dir():
            continue
        for entry in os.scandir(directory):
            name = entry.name
            if (name.endswith(TERRAFORM_SUFFIXES) and not name.startswith((".", "#")) and not name.endswith("~")
                    and f"{folder}/{name}" not in rendered and not entry.is_dir()):
                found.append(f"{folder}/{name}")
    return sorted(found)


def _without_hashes(manifest: str) -> str:
    """The manifest's files and owners; a damaged manifest as it is (then compared in full)."""
    try:
        body = json.loads(manifest)
        for entry in body["files"].values():
            entry.pop("sha256", None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return manifest
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def compare(out: Path, rendered: dict[str, str], owners: Owners) -> Drift:
    """What differs between disk and the rendered files of `owners` (read-only)."""
    changed: dict[str, str] = {}
    missing: list[str] = []
    for path, text in rendered.items():
        target = out / path
        if not target.is_file() or target.is_symlink():
            missing.append(path)
            continue
        current = target.read_bytes().decode("utf-8", errors="replace")
        if path == MANIFEST:
            # Its hashes follow the files, whose own changes are reported: a diff of them is noise.
            current, text = _without_hashes(current), _without_hashes(text)
        if current != text:
            diff = difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}")
            changed[path] = "".join(diff)
    old = read_manifest(out)
    orphaned = sorted(
        path for path, entry in old.items()
        if _owned(entry.get("owner"), owners) and path not in rendered and (out / path).exists()
    )
    return Drift(changed, sorted(missing), orphaned, foreign_files(out, rendered, owners))


# --- write ----------------------------------------------------------------------------------


Waiting = Callable[[Path], None]  # told the output directory when a render has to wait for another


def unannounced(out: Path) -> None:
    """A wait nobody is told about (library callers; the CLI reports it)."""


@contextmanager
def locked(out: Path, waiting: Waiting = unannounced) -> Iterator[None]:
    """Hold an exclusive lock on the output directory; a second render waits for the first."""
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(out)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_tree(out: Path, rendered: dict[str, str], owners: Owners, waiting: Waiting = unannounced) -> Drift:
    """Write the rendered files of `owners` if the tree on disk differs; returns what changed.

    What to write is decided under the output lock: files of environments not rendered now
    are read as they are once the lock is held, so a render of another environment that
    finished meanwhile is kept, not overwritten with what was there before it.
    """
    drift = Drift({}, [], [], [])

    def plan() -> dict[str, str] | None:
        nonlocal drift
        full = desired_tree(out, rendered, owners)
        drift = compare(out, full, owners)
        return full if drift.stale else None

    _write_guarded(out, plan, waiting)
    return drift


def forget_records(out: Path, envs: tuple[str, ...]) -> None:
    """After retiring `envs`: their destroy records, which a render keeps as files it does not
    manage, go, and with them each root's folder once nothing else is in it."""
    for env in envs:
        folder = out / ROOT / "environments" / env
        (folder / DESTROYED_RECORD).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _write_guarded(out: Path, plan: Callable[[], dict[str, str] | None], waiting: Waiting) -> None:
    """A file system error (read-only, disk full, permissions) becomes a UsageError naming the
    path and the reason; the staging directory is gone by then and the old tree is untouched."""
    try:
        _write_tree(out, plan, waiting)
    except OSError as exc:
        where = exc.filename or out
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"{where}: cannot write the generated tree: {reason} (errno {exc.errno}); "
                         f"{out / ROOT} was left as it was") from None


def _write_tree(out: Path, plan: Callable[[], dict[str, str] | None], waiting: Waiting) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if out.is_symlink():
        raise UsageError(f"{out}: output directory is a symlink; refusing to write through it")
    with locked(out, waiting):
        _remove_stale_staging(out)
        target = out / ROOT
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise UsageError(f"{target}: expected a directory tfgen manages; refusing to replace it")
        tree = plan()
        if tree is None:
            return
        old = read_manifest(out)
        staging = Path(_mkdtemp(out))
        try:
            new_root = staging / ROOT.name
            if target.is_dir():
                _link_copy(target, new_root, managed={p for p in old if p not in tree} | set(tree))
            else:
                new_root.mkdir()
            for path, text in tree.items():
                _write_file(staging, path, text)
            _prune_empty_dirs(new_root, [staging / p for p in old if p not in tree])
            _fsync_tree(new_root)
            if target.is_dir():
                _exchange(new_root, target)
            else:
                os.rename(new_root, target)
            _flush_swap(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _flush_swap(out: Path) -> None:
    """After the swap the new tree is in place; only its durability can still fail."""
    try:
        _fsync_dir(out)
    except OSError as exc:
        raise UsageError(f"{out}: the new tree is in place but could not be flushed to disk: "
                         f"{exc.strerror} (errno {exc.errno})") from None


def _mkdtemp(out: Path) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out)


def _remove_stale_staging(out: Path) -> None:
    """A killed render leaves its staging directory behind; it was never part of the tree."""
    for entry in out.iterdir():
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def _link_copy(source: Path, dest: Path, managed: set[str]) -> None:
    """Recreate `source` at `dest`, hard-linking files tfgen does not manage (content untouched)."""
    base = source.parent
    for directory, dirnames, filenames in os.walk(source):
        rel_dir = Path(directory).relative_to(source)
        (dest / rel_dir).mkdir(exist_ok=True)
        for name in list(dirnames):
            full = Path(directory) / name
            if full.is_symlink():
                dirnames.remove(name)
                os.symlink(os.readlink(full), dest / rel_dir / name)
        for name in filenames:
            full = Path(directory) / name
            rel = full.relative_to(base).as_posix()
            if rel in managed:
                continue
            if full.is_symlink():
                os.symlink(os.readlink(full), dest / rel_dir / name)
            else:
                os.link(full, dest / rel_dir / name)


def _write_file(staging: Path, path: str, text: str) -> None:
    target = staging / path
    # Never write through a symlink: a link inside the tree could point anywhere.
    for parent in [staging / p for p in _parents(path)]:
        if parent.is_symlink():
            where = staging.parent / parent.relative_to(staging)  # the link in the real tree
            raise UsageError(f"{where}: is a symlink in the output tree; refusing to write {path} "
                             "through it")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    mode = 0o755 if path.endswith(".sh") else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.chmod(target, mode)


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _prune_empty_dirs(root: Path, removed: list[Path]) -> None:
    for path in removed:
        parent = path.parent
        while parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _fsync_tree(root: Path) -> None:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(directory, name)
            if not os.path.islink(full):
                fd = os.open(full, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(directory))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE)."""
    import ctypes.util  # ~10 ms (it brings subprocess): only a write pays it, not `tfgen check`

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), str(b))
    # No atomic exchange on this system: two renames, with a window of a missing tree only.
    backup = a.parent / (a.name + ".old")
    os.rename(b, backup)
    os.rename(a, b)
    os.rename(backup, a)
