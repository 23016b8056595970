"""The parse-back is python-hcl2's: tfgen's faster reading of it (no position tracking, texts
parsed once, shared out over processes) returns exactly what hcl2.loads returns, and the same
findings."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import hcl2
import hcl2.parser
import pytest
from conftest import GENERATED, REPO

from codemate_tfgen import hcl
from codemate_tfgen.verify import crossref

BROKEN = 'resource "aws_s3_bucket" "this" {\n  bucket = "a"\n  tags = {\n'


def terraform_files(*folders: Path) -> dict[str, str]:
    return {str(p): p.read_text("utf-8") for folder in folders for p in sorted(folder.rglob("*"))
            if p.suffix in (".tf", ".tfvars")}


@pytest.fixture(scope="module")
def reference() -> dict[str, dict]:
    """hcl2.loads of every .tf and .tfvars of the golden trees, committed ones included."""
    texts = terraform_files(GENERATED, REPO / "tests" / "golden").values()
    return {text: hcl2.loads(text) for text in texts}


@pytest.fixture(scope="module")
def some(reference) -> list[str]:
    """Enough of them for parse_all to share them out (one environment's files)."""
    texts = [text for path, text in terraform_files(GENERATED).items() if "/environments/dev/" in path]
    assert sum(map(len, texts)) >= hcl.PARALLEL_MIN_CHARS
    return texts


def test_the_parser_is_python_hcl2s_but_for_positions():
    ours, theirs = hcl._parser().options, hcl2.parser.parser().options
    differ = {name for name in theirs.options if ours.options[name] != theirs.options[name]}
    assert differ == {"propagate_positions", "cache", "postlex"}
    assert type(ours.postlex) is type(theirs.postlex)
    assert theirs.propagate_positions and not ours.propagate_positions


@pytest.mark.slow  # parses golden trees, in forked processes
def test_tfgen_reads_every_file_as_hcl2_loads_does(reference):
    assert len(reference) > 50
    assert hcl.parse_all(list(reference), None, jobs=1) == reference


@pytest.mark.parametrize("text", [BROKEN, "a = \n", 'x = "${\n', "= 1\n", "a = [1,, 2]\n"])
def test_a_refusal_reads_as_hcl2_loads_refuses(text):
    with pytest.raises(Exception) as theirs:
        hcl2.loads(text)
    with pytest.raises(Exception) as ours:
        hcl.parse_text(text)
    assert (type(ours.value), message(ours.value)) == (type(theirs.value), message(theirs.value))


def message(error: BaseException) -> tuple[str, list[str]]:
    """An error's first line, and the rest as a set: Lark lists the expected tokens in the order
    of a set of strings, which changes from one process to the next (hash randomisation)."""
    first, *rest = str(error).splitlines()
    return first, sorted(rest)


def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the worker processes parse_all starts."""
    started: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            started.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return started


@pytest.mark.slow  # parses golden trees, in forked processes
def test_a_parallel_parse_returns_what_a_serial_one_does(monkeypatch, reference, some):
    texts = [*some, BROKEN]
    started = forks(monkeypatch)
    parallel = hcl.parse_all(texts, None, jobs=2)
    assert len(started) == 1
    assert list(parallel) == texts
    assert {t: parallel[t] for t in some} == {t: reference[t] for t in some}
    assert isinstance(parallel[BROKEN], hcl.ParseFailure)
    assert message(parallel[BROKEN]) == message(hcl.parse_all([BROKEN], None, jobs=1)[BROKEN])


@pytest.mark.slow  # parses golden trees, in forked processes
def test_a_worker_that_fails_leaves_its_share_to_the_parent(monkeypatch, reference, some):
    parent = os.getpid()
    real = pickle.dumps

    def dumps(*args, **kwargs):  # only a worker sends its results
        if os.getpid() != parent:
            raise MemoryError("the worker cannot send")
        return real(*args, **kwargs)

    started = forks(monkeypatch)
    monkeypatch.setattr(pickle, "dumps", dumps)
    assert hcl.parse_all(some, None, jobs=2) == {t: reference[t] for t in some}
    assert len(started) == 1


def test_little_to_parse_stays_in_one_process(monkeypatch):
    started = forks(monkeypatch)
    assert hcl.parse_all(["a = 1\n", "b = 2\n"], None, jobs=2) == {"a = 1\n": {"a": 1}, "b = 2\n": {"b": 2}}
    assert started == []


def test_each_distinct_text_is_parsed_once(monkeypatch):
    parsed: list[str] = []
    real = hcl.parse_text
    monkeypatch.setattr(hcl, "parse_text", lambda text: parsed.append(text) or real(text))
    results = hcl.parse_all(["a = 1\n", "b = 2\n", "a = 1\n"], None, jobs=1)
    assert sorted(parsed) == ["a = 1\n", "b = 2\n"]
    assert results == {"a = 1\n": {"a": 1}, "b = 2\n": {"b": 2}}


@pytest.mark.slow  # parses golden trees, in forked processes
def test_verification_finds_the_same_in_one_process_or_two(monkeypatch, some):
    files = {f"infrastructure/environments/dev/{i}.tf": text for i, text in enumerate(some)}
    files["infrastructure/modules/broken/main.tf"] = BROKEN
    monkeypatch.setenv("TFGEN_NO_CACHE", "1")
    started = forks(monkeypatch)
    findings = {}
    for cpus in (1, 2):
        monkeypatch.setattr(hcl, "_usable_cpus", lambda cpus=cpus: cpus)
        parsed, findings[cpus] = crossref.parse(files)
        assert set(parsed) == set(files) - {"infrastructure/modules/broken/main.tf"}
    assert len(started) == 1
    assert findings[1] == findings[2]
    [broken] = findings[1]
    assert broken.file == "infrastructure/modules/broken/main.tf"
    assert broken.message.startswith("does not parse as HCL: ")


@pytest.mark.slow  # builds the LALR tables (~1.4 s)
def test_the_parser_tables_are_kept_in_the_user_cache(tmp_path, monkeypatch):
    """Lark unpickles its table file: never one at a predictable name in the shared temporary
    directory (Lark's default), always one in the user's own cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TFGEN_NO_CACHE", "1")  # the tables are code, not results: kept all the same
    hcl._parser.cache_clear()
    try:
        assert hcl.parse_text("a = 1\n") == {"a": 1}
        assert [p.name.startswith("lark-tables-") for p in (tmp_path / "codemate-tfgen").iterdir()] == [True]
        assert hcl._parser().options.cache == str(next((tmp_path / "codemate-tfgen").iterdir()))
    finally:
        hcl._parser.cache_clear()
