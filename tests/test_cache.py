"""The user cache (codemate_tfgen.cache) only ever saves time: with it, without it, damaged or
unwritable, tfgen computes the same tree and the same findings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, SPECS, project_of, tree_files

from codemate_tfgen import cache, pipeline
from codemate_tfgen.errors import VerificationError
from codemate_tfgen.render import templates as render
from codemate_tfgen.verify import tfschema
from codemate_tfgen.verify.crossref import verify


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private cache directory for the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TFGEN_NO_CACHE", raising=False)
    tfschema.type_entry.cache_clear()  # in-process memos that would answer before the cache
    render.environment.cache_clear()  # its bytecode cache directory is chosen when it is built
    yield tmp_path / "xdg" / "codemate-tfgen"
    render.environment.cache_clear()


def _entries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.slow  # renders with every cache off
def test_cached_render_equals_uncached_render(cli, tmp_path, user_cache, monkeypatch):
    cli("render", "--specs", SPECS, "--out", tmp_path / "cold")  # fills the cache
    kinds = {p.name.rsplit("-", 1)[0] for p in user_cache.iterdir()}
    assert {"hcl2", "verified", "schema-valid", "aws-schema", "jinja"} <= kinds
    cli("render", "--specs", SPECS, "--out", tmp_path / "warm")  # answered from it
    monkeypatch.setenv("TFGEN_NO_CACHE", "1")
    cli("render", "--specs", SPECS, "--out", tmp_path / "off")
    assert tree_files(tmp_path / "warm") == tree_files(tmp_path / "cold") == tree_files(tmp_path / "off")


@pytest.mark.parametrize("setting, off", [
    ("1", set(cache.KINDS)), ("yes", set(cache.KINDS)), ("hcl2", {"hcl2"}), ("jinja,verified", {"jinja", "verified"}),
    ("hcl2,nonsense", set(cache.KINDS)),  # not a list of kinds: everything off, as for any other value
])
def test_no_cache_names_kinds_or_turns_everything_off(user_cache, monkeypatch, setting, off):
    monkeypatch.setenv("TFGEN_NO_CACHE", setting)
    assert {kind for kind in cache.KINDS if cache.directory(kind, "x") is None} == off


def test_the_kinds_are_the_ones_stored(cli, tmp_path, user_cache):
    cli("render", "--specs", SPECS, "--out", tmp_path / "out")
    # Each kind is a folder; beside them lies at most the parser's table file (code, not results).
    assert {p.name.rsplit("-", 1)[0] for p in user_cache.iterdir() if p.is_dir()} == set(cache.KINDS)
    assert all(p.name.startswith("lark-tables-") for p in user_cache.iterdir() if not p.is_dir())
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache.directory("hcl", "x")


@pytest.mark.slow  # renders with every cache off
def test_damaged_entries_are_misses(cli, tmp_path, user_cache):
    assert cli("render", "--specs", SPECS, "--out", tmp_path / "first")[0] == 0
    entries = _entries(user_cache)
    assert entries
    for entry in entries:
        entry.write_bytes(b"\x00garbage{")
    tfschema.type_entry.cache_clear()
    code, out, err = cli("check", "--specs", SPECS, "--out", tmp_path / "first")
    assert (code, err) == (0, "")


def test_unwritable_cache_is_ignored(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert cache.directory("hcl2", "x") is None
    code, _out, err = cli("render", "--specs", SPECS, "--out", tmp_path / "out")
    assert (code, err) == (0, "")


def test_a_clean_verdict_never_hides_a_finding(user_cache):
    files, _ = pipeline.build(project_of(SPECS), ())
    verify(files)  # clean: remembered
    path = next(p for p in files if p.endswith("/main.tf") and "/environments/" in p)
    broken = dict(files)
    broken[path] = files[path] + '\nlocals {\n  x = var.not_declared_anywhere\n}\n'
    with pytest.raises(VerificationError) as caught:
        verify(broken)
    assert any("var.not_declared_anywhere is not declared" in line for line in caught.value.lines())
    unparsable = dict(files, **{path: files[path] + "\nresource {\n"})
    with pytest.raises(VerificationError) as caught:
        verify(unparsable)
    assert any("does not parse as HCL" in line for line in caught.value.lines())


def test_only_values_json_returns_exactly_are_stored(tmp_path):
    folder = tmp_path / "kind"
    folder.mkdir()
    cache.put_json(folder, "tuple", {"a": (1, 2)})
    cache.put_json(folder, "nan", [float("nan")])
    cache.put_json(folder, "fine", {"a": [1, 1.0, True, None, "x"]})
    assert cache.get_json(folder, "tuple") is None and cache.get_json(folder, "nan") is None
    stored = cache.get_json(folder, "fine")
    assert stored == {"a": [1, 1.0, True, None, "x"]}
    assert [type(v) for v in stored["a"]] == [int, float, bool, type(None), str]


def test_the_cache_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 10)
    folder = tmp_path / "kind"
    folder.mkdir()
    for i in range(25):
        (folder / f"old{i}.json").write_text(str(i))
        stamp = 1_700_000_000 + i  # distinct modification times, oldest first
        os.utime(folder / f"old{i}.json", (stamp, stamp))
    monkeypatch.setattr(cache, "_pruned", set())
    cache.put_json(folder, "new", 1)
    left = sorted(p.name for p in folder.iterdir())
    assert "new.json" in left and "old0.json" not in left and "old24.json" in left
    assert len(left) == 13  # the older half of 26 went


# What a commit hook's `tfgen check` of an unchanged tree must not import (see pipeline.build).
HEAVY = ("jinja2", "jsonschema", "lark", "hcl2")
IMPORTED = ("import runpy, sys\n"
            "sys.argv = ['tfgen', *sys.argv[1:]]\n"
            "try:\n"
            "    runpy.run_module('codemate_tfgen', run_name='__main__')\n"
            "except SystemExit as exc:\n"
            f"    print(exc.code, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n")


@pytest.mark.slow  # renders and checks in subprocesses
def test_a_check_answered_from_the_cache_imports_no_renderer_or_parser(project, user_cache):
    env = dict(os.environ, XDG_CACHE_HOME=str(user_cache.parent), PYTHONPATH=str(REPO))
    env.pop("TFGEN_NO_CACHE", None)

    def check() -> str:
        return subprocess.run([sys.executable, "-c", IMPORTED, "check", "--out", "out"], cwd=project, env=env,
                              capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]

    subprocess.run([sys.executable, "-m", "codemate_tfgen", "render", "--out", "out"], cwd=project, env=env,
                   capture_output=True, check=True)
    assert check() == "0 []"
    (project / "specs" / "dev.yaml").write_text((project / "specs" / "dev.yaml").read_text() + "\n# edited\n")
    assert check() == "0 ['jinja2']"  # a new input: rendered afresh (the specs and the tree verdicts were seen)
    assert check() == "0 []"


def test_a_remembered_build_is_used_only_for_the_tree_it_rendered(cli, project, user_cache):
    assert cli("render", "--out", "out")[0] == 0
    assert cli("check", "--out", "out") == (0, "tfgen: out/infrastructure is up to date\n", "")
    assert list(user_cache.glob("built-*/*.json"))
    main_tf = project / "out" / "infrastructure" / "environments" / "dev" / "main.tf"
    original = main_tf.read_text()
    main_tf.write_text(original.replace("\n", "\n\n", 1))  # the tree on disk differs: a fresh build's diff
    code, out, _ = cli("check", "--out", "out")
    assert code == 1 and "+++ b/infrastructure/environments/dev/main.tf" in out
    main_tf.write_text(original)
    assert cli("check", "--out", "out")[0] == 0
    template = project / "templates" / "environments" / "main" / "network.tf.j2"
    template.write_text(template.read_text() + "\n# a template edit\n")
    code, out, _ = cli("check", "--out", "out")
    assert code == 1 and "a template edit" in out


def test_a_build_with_warnings_is_never_remembered(cli, project, user_cache):
    """Which environment a warning names depends on git's history and the tree on disk too (see
    spec.valid.newness): such a build runs every time, and says its warnings every time."""
    (project / "specs" / "qa.yaml").write_text(  # dev's values in an account of its own: warnings
        "extends: dev.yaml\n"
        "account: {name: qa, baseline: {cloudtrail: true, guardduty: true}}\n"
        "backend: {bucket: codemate-terraform-state-qa, dynamodb_table: codemate-terraform-locks-qa}\n"
        "dns: {zone_name: qa.code1398.io}\n")
    code, _, fresh = cli("render", "--out", "out")
    assert code == 0 and "warning: qa " in fresh
    assert cli("check", "--out", "out") == (0, "tfgen: out/infrastructure is up to date\n", fresh)
    assert not list(user_cache.glob("built-*/*.json"))
