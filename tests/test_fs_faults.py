"""File system faults while writing: a clear exit-2 error, the old tree intact, nothing outside touched.

Read-only and permission errors are simulated by refusing writes below the output root (CI
runs as root, where chmod does not stop writes); a full disk by failing a file write in
tree.py with ENOSPC. Symlinks and hostile manifest entries are real.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import SPECS, project_of, tree_files

from codemate_tfgen import pipeline, tree

pytestmark = pytest.mark.slow  # a process per fault: not in `scripts/test.sh --fast`

STAGING = tree.STAGING_PREFIX


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Path]:
    """out/ holds the tree of older specs (one more tag); specs/ are the current ones."""
    old_specs = tmp_path / "old-specs"
    shutil.copytree(SPECS, old_specs)
    common = old_specs / "_common.yaml"
    data = yaml.safe_load(common.read_text("utf-8"))
    data["tags"] = {**data.get("tags", {}), "Revision": "old"}
    common.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    pipeline.render_to_disk(project_of(old_specs, out), ())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not tfgen's\n")
    return {"out": out, "outside": outside}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mode of every file, symlinks as their target."""
    return {rel: (data, (root / rel).lstat().st_mode) for rel, data in tree_files(root).items()}


def assert_clean_failure(code: int, err: str, out: Path, before: dict, outside: Path, words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and str(out) in lines[0], err
    assert "Traceback" not in err and "internal error" not in err
    assert snapshot(out) == before, "the old tree must be intact"
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING)], "no staging directory may remain"
    assert tree_files(outside) == {"precious.txt": b"not tfgen's\n"}


def refuse_writes_below(monkeypatch: pytest.MonkeyPatch, root: Path, code: int) -> None:
    """Every call that would change something below root fails with `code` (EROFS, EACCES)."""
    root_text = str(root.resolve())

    def below(path: object) -> bool:
        return isinstance(path, str | os.PathLike) and os.path.abspath(os.fspath(path)).startswith(root_text)

    def refuse(name: str, checks) -> None:
        real = getattr(os, name)

        def fake(*args, **kwargs):
            if checks(*args, **kwargs):
                raise OSError(code, os.strerror(code), os.fspath(args[0]))
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, fake)

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
    refuse("open", lambda path, flags, *a, **k: below(path) and flags & writes)
    refuse("mkdir", lambda path, *a, **k: below(path) and not os.path.exists(path))
    for name in ("rename", "replace", "link", "symlink", "unlink", "rmdir", "chmod"):
        refuse(name, lambda *args, **k: any(below(a) for a in args[:2]))


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_read_only_output(cli, rendered, monkeypatch, code):
    out, before = rendered["out"], snapshot(rendered["out"])
    refuse_writes_below(monkeypatch, out, code)
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert_clean_failure(status, err, out, before, rendered["outside"], os.strerror(code))


@pytest.mark.parametrize("fail_at", [0, 1, 7, -1])
def test_disk_full(cli, rendered, monkeypatch, fail_at):
    """The n-th file write (-1: the last) writes half its text, then the disk is full."""
    out, before = rendered["out"], snapshot(rendered["out"])
    real = tree._write_file
    total = len(pipeline.build(project_of(SPECS), ())[0]) + 1  # rendered files plus the manifest
    calls = []

    def write_file(staging: Path, path: str, text: str) -> None:
        calls.append(path)
        if len(calls) - 1 == fail_at % total:
            real(staging, path, text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging / path))
        real(staging, path, text)

    monkeypatch.setattr(tree, "_write_file", write_file)
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert_clean_failure(status, err, out, before, rendered["outside"], "No space left on device")


def test_fsync_failure_is_a_clear_error(cli, rendered, monkeypatch):
    out, before = rendered["out"], snapshot(rendered["out"])

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", fsync)
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert_clean_failure(status, err, out, before, rendered["outside"], "Input/output error")


def test_up_to_date_render_clears_staging_leftovers(cli, rendered):
    """A render killed after its swap leaves its staging directory; the next render finds the
    tree up to date, and still clears it."""
    out = rendered["out"]
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert status == 0, err
    leftover = out / f"{STAGING}killed"
    (leftover / "infrastructure").mkdir(parents=True)
    (leftover / "infrastructure" / "main.tf").write_text("# half written\n")
    status, stdout, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert status == 0, err
    assert "already up to date" in stdout
    assert not leftover.exists()


def test_symlinked_directory_inside_the_tree_is_not_written_through(cli, rendered):
    out, outside = rendered["out"], rendered["outside"]
    env_dir = out / "infrastructure" / "environments" / "dev"
    shutil.rmtree(env_dir)
    env_dir.symlink_to(outside)
    before = snapshot(out)
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert_clean_failure(status, err, out, before, outside, "is a symlink in the output tree")


def test_symlinked_generated_file_is_replaced_not_followed(cli, rendered):
    """tfgen owns the path, so the link itself is replaced by the file; its target is untouched."""
    out, outside = rendered["out"], rendered["outside"]
    main_tf = out / "infrastructure" / "environments" / "dev" / "main.tf"
    main_tf.unlink()
    main_tf.symlink_to(outside / "precious.txt")
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert status == 0, err
    assert not main_tf.is_symlink()
    assert main_tf.read_text("utf-8") == pipeline.build(project_of(SPECS), ())[0][
        "infrastructure/environments/dev/main.tf"]
    assert tree_files(outside) == {"precious.txt": b"not tfgen's\n"}


def test_unmanaged_symlink_is_left_as_it_is(cli, rendered):
    out, outside = rendered["out"], rendered["outside"]
    link = out / "infrastructure" / "environments" / "dev" / ".terraform"
    link.symlink_to(outside)
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", out)
    assert status == 0, err
    assert link.is_symlink() and link.readlink() == outside
    assert tree_files(outside) == {"precious.txt": b"not tfgen's\n"}


@pytest.mark.parametrize("which", ["root", "infrastructure"])
def test_symlinked_output_is_refused(cli, rendered, tmp_path, which):
    out, outside = rendered["out"], rendered["outside"]
    if which == "root":
        target = tmp_path / "link"
        target.symlink_to(out)
    else:
        shutil.move(out / "infrastructure", outside / "infrastructure")
        (out / "infrastructure").symlink_to(outside / "infrastructure")
        target = out
    before_outside = tree_files(outside)
    status, _out, err = cli("render", "--all", "--specs", SPECS, "--out", target)
    assert status == 2, err
    assert "symlink" in err and "Traceback" not in err
    assert tree_files(outside) == before_outside


@pytest.mark.parametrize("entry", [
    "infrastructure/../../outside/precious.txt", "<absolute>", "infrastructure/environments/../../../x",
    "infrastructure//x", "other/x",
])
def test_manifest_pointing_outside_is_damaged(cli, rendered, entry):
    """A manifest entry is joined to the output root: one escaping it would read and rewrite
    files outside the tree (as a file of another environment), so it is refused. (Before the
    fix, an absolute entry made `render dev` unlink and rewrite that file.)"""
    out, outside = rendered["out"], rendered["outside"]
    manifest = out / tree.MANIFEST
    body = json.loads(manifest.read_text("utf-8"))
    entry = entry.replace("<absolute>", str(outside / "precious.txt"))
    body["files"][entry] = {"owner": "qa", "sha256": "0" * 64}
    manifest.write_text(json.dumps(body), "utf-8")
    before = snapshot(out)
    status, _out, err = cli("render", "dev", "--specs", SPECS, "--out", out)
    assert status == 2, err
    assert "manifest is damaged" in err and "Traceback" not in err
    assert snapshot(out) == before
    assert tree_files(outside) == {"precious.txt": b"not tfgen's\n"}


@pytest.mark.parametrize("name", ["../etc", "dev/x", "..", ".", "dev/../prod"])
def test_environment_name_with_path_parts(cli, specs, tmp_path, name):
    status, _out, err = cli("render", name, "--specs", "specs", "--out", tmp_path / "out")
    assert status == 2
    assert "not an environment name" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("file_name", ["..yaml", "a b.yaml", "Dev.yaml", "x..y.yaml"])
def test_spec_file_that_is_no_environment_name(cli, specs, tmp_path, file_name):
    (specs / file_name).write_text("extends: _common.yaml\n")
    status, _out, err = cli("render", "--all", "--specs", "specs", "--out", tmp_path / "out")
    assert status == 2
    assert "not an environment name" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_extends_cannot_leave_the_specs_directory(cli, specs, tmp_path):
    (tmp_path / "evil.yaml").write_text("project: evil\n")
    dev = specs / "dev.yaml"
    dev.write_text(dev.read_text("utf-8").replace("extends: _common.yaml", "extends: ../evil.yaml"))
    status, _out, err = cli("validate", "dev", "--specs", "specs")
    assert status == 2
    assert err.startswith("specs/dev.yaml:") and "$.extends" in err
