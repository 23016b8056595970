"""Property-based tests: mutated real specs never crash tfgen and never break out of HCL strings.

Each case starts from the real specs (_common.yaml, dev.yaml, prod.yaml, read as data), mutates
one of them (wrong types, out-of-range numbers, missing and extra keys, empty documents, hostile
strings, raw text damage), writes them to a private specs directory and runs the pipeline.
Every case must end either in a tree that passes verification or in a SpecError whose every
line is `<file>:<line>:<col>: <JSON path>: <message>`; any other exception fails the test with
the smallest mutation Hypothesis can find. Free strings that reach terraform.tfvars must read
back (python-hcl2 + hcl.unquote) as exactly the spec's string.

The figures of a run are printed as `[hardening]` lines and quoted in the README.
"""

from __future__ import annotations

import collections
import functools
import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from conftest import SPECS, project_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemate_tfgen import hcl, pipeline
from codemate_tfgen.errors import BrokenSibling, SpecError
from codemate_tfgen.spec.load import display_path, load_spec
from codemate_tfgen.spec.validate import validate

pytestmark = pytest.mark.slow  # hundreds of generated cases: not in `scripts/test.sh --fast`

LOAD_CASES = 800
RENDER_CASES = 120
RENDERED_AT_LEAST = 80  # of the render cases, valid ones rendered and verified
FILES = ("_common", "dev", "prod")
ENVS = ("dev", "prod")
ORIGINAL = {name: (SPECS / f"{name}.yaml").read_text("utf-8") for name in FILES}

# A JSON path: `.key` for identifier keys, `["..."]` (JSON-escaped) for any other key, `[n]`.
JSON_PATH = r'\$(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*'

HAZARDS = [
    '"', "'", "\\", "\\\\", '\\"', "${", "%{", "$${", "%%{", "}", "${var.x}", "%{ if true }x%{ endif }",
    "<<EOF", "<<-EOF\nx\nEOF", "EOF", "#", "//", "/*", "*/", "\n", "\r\n", "\t", "\x00", "\x1b", "\x7f",
    "\x85", "\u2028", "\ufeff", "\u200b", "é", "한국어", "🚀", " ", ": ", "- ", "&a", "*a", "!!python/object",
    "{", "[", "]", "\\u0041", "\\n", "=", "-----BEGIN", "\\U0001F680",
]

hazard_text = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(st.sampled_from(HAZARDS), st.text(max_size=4)), min_size=1, max_size=8).map("".join),
    st.builds(lambda n, s: (s or "x") * n, st.integers(100, 3000), st.sampled_from(["x", "${", "\\", "한"])),
)
numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 2**31, -(2**31), 2**63, 2**64, 10**30, 65536, 65535, 122881, 4001]),
    st.floats(allow_nan=True, allow_infinity=True),
)
wrong_type = st.one_of(
    st.none(), st.booleans(), numbers, hazard_text,
    st.lists(st.one_of(st.integers(), hazard_text), max_size=3),
    st.dictionaries(hazard_text, st.one_of(st.integers(), hazard_text), max_size=3),
)
# Tag keys as the schema allows them, and free-string tag values (the free strings that reach HCL).
tag_keys = st.from_regex(r"\A[A-Za-z0-9 _.:/=+@-]{1,20}\Z")
tag_values = st.one_of(
    hazard_text.map(lambda s: s[:256]),
    st.lists(st.sampled_from(HAZARDS), min_size=1, max_size=10).map("".join),
)


def _paths(data: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, path + (index,))


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _set(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(data, path[:-1])[path[-1]] = value
    return data


def _delete(data: Any, path: tuple) -> Any:
    if not path:
        return None
    del _get(data, path[:-1])[path[-1]]
    return data


def _dump(data: Any, draw: st.DrawFn) -> str:
    return yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False,
                          default_flow_style=draw(st.sampled_from([False, None])))


@st.composite
def mutated_specs(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """(kind of mutation, {file stem: YAML text}) with exactly one file changed."""
    target = draw(st.sampled_from(FILES))
    data = yaml.safe_load(ORIGINAL[target])
    kind = draw(st.sampled_from(["wrong_type", "number", "string", "delete", "extra_key", "empty",
                                 "text", "tags"]))
    paths = sorted(_paths(data), key=repr)
    path = draw(st.sampled_from(paths))
    if kind == "wrong_type":
        data = _set(data, path, draw(wrong_type))
    elif kind == "number":
        numeric = [p for p in paths if isinstance(_get(data, p), int | float) and not isinstance(
            _get(data, p), bool)] or paths
        data = _set(data, draw(st.sampled_from(numeric)), draw(numbers))
    elif kind == "string":
        strings = [p for p in paths if isinstance(_get(data, p), str)] or paths
        data = _set(data, draw(st.sampled_from(strings)), draw(hazard_text))
    elif kind == "delete":
        data = _delete(data, path)
    elif kind == "extra_key":
        maps = [p for p in paths if isinstance(_get(data, p), dict)]
        _get(data, draw(st.sampled_from(maps)))[draw(hazard_text)] = draw(wrong_type)
    elif kind == "tags":
        data["tags"] = draw(st.dictionaries(tag_keys, tag_values, max_size=4))
    if kind == "empty":
        text = draw(st.sampled_from(["", "---\n", "# only a comment\n", "{}\n", "null\n", "[]\n", "~\n",
                                     "--- |\n  text\n", "\ufeff", "...\n"]))
    elif kind == "text":
        original = ORIGINAL[target]
        at = draw(st.integers(0, len(original)))
        cut = draw(st.integers(0, 20))
        text = original[:at] + draw(hazard_text) + original[at + cut:]
    else:
        text = _dump(data, draw)
    return kind, {**ORIGINAL, target: text}


@st.composite
def render_cases(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """Mutations that mostly keep a spec valid, so that most cases reach rendering: hostile
    free strings in tags, flipped booleans, nudged numbers; now and then any mutation."""
    kind = draw(st.sampled_from(["tags"] * 5 + ["email"] * 2 + ["flip", "nudge", "any"]))
    if kind == "any":
        return draw(mutated_specs())
    target = draw(st.sampled_from(FILES))
    data = yaml.safe_load(ORIGINAL[target])
    paths = sorted(_paths(data), key=repr)
    if kind == "tags":
        data["tags"] = draw(st.dictionaries(tag_keys, tag_values, min_size=1, max_size=4))
    elif kind == "email":
        local = "".join(c for c in draw(hazard_text) if not c.isspace() and c != "@")[:200] or "x"
        section, key = draw(st.sampled_from(EMAIL_FIELDS))
        data.setdefault(section, {})[key] = f"{local}@code1398.io"
    elif kind == "flip" and (flags := [p for p in paths if isinstance(_get(data, p), bool)]):
        path = draw(st.sampled_from(flags))
        _set(data, path, not _get(data, path))
    elif kind == "nudge" and (counts := [p for p in paths if type(_get(data, p)) is int]):
        path = draw(st.sampled_from(counts))
        _set(data, path, _get(data, path) + draw(st.integers(-2, 2)))
    return kind, {**ORIGINAL, target: _dump(data, draw)}


# Besides tag values, the e-mail fields are the free strings of a spec (any character but
# whitespace and `@`); where they reach terraform.tfvars they must read back exactly.
EMAIL_FIELDS = [("monitoring", "alarm_email"), ("budget", "email")]


def _write(specs_dir: Path, files: dict[str, str]) -> None:
    """Write the files that differ from what the directory holds (most cases change one)."""
    for name, text in files.items():
        path = specs_dir / f"{name}.yaml"
        if _WRITTEN.get(path) != text:
            path.write_text(text, "utf-8")
            _WRITTEN[path] = text


_WRITTEN: dict[Path, str] = {}


def assert_spec_error_lines(error: SpecError, specs_dir: Path) -> None:
    """Each line: a spec file of this run, line and column inside it, a JSON path, a message."""
    names = {display_path(specs_dir / f"{name}.yaml"): name for name in FILES}
    assert error.lines(), "a SpecError must say something"
    located = [str(problem) for problem in error.problems]
    # A broken environment the command did not name is followed by one line saying why it stops it.
    assert error.lines()[len(located):] == ([error.lines()[-1]] if isinstance(error, BrokenSibling) else [])
    for line in located:
        assert "\n" not in line and "\r" not in line, f"error spans lines: {line!r}"
        match = re.fullmatch(rf"(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): {JSON_PATH}: .+", line)
        assert match, f"malformed error line: {line!r}"
        assert match["file"] in names, f"error names no spec file of this run: {line!r}"
        text = (specs_dir / f"{names[match['file']]}.yaml").read_bytes()
        assert 1 <= int(match["line"]) <= text.count(b"\n") + 2, line
        assert int(match["col"]) >= 1, line


def load_and_validate(specs_dir: Path, env: str) -> Any:
    """The spec of `env` when it is valid, None when it was refused properly."""
    try:
        spec = load_spec(specs_dir, env)
        validate(spec)
        return spec
    except SpecError as exc:
        assert_spec_error_lines(exc, specs_dir)
        return None


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One specs directory reused by every case (Hypothesis runs cases one by one), in memory
    where the system has a tmpfs: thousands of small writes to a disk cost more than the cases."""
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="tfgen-properties-", dir=shm if shm.is_dir() else None))
    (root / "specs").mkdir()
    _WRITTEN.clear()
    yield root / "specs"
    shutil.rmtree(root)


@pytest.fixture(autouse=True)
def compose_originals_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unchanged spec files of a case are composed once per run, not once per case: YAML
    composing is pure Python and most of a case's time. Changed files are composed for real;
    tfgen only reads the nodes, so sharing them between cases changes nothing."""
    real = yaml.compose
    cache: dict[tuple[str, type], Any] = {}

    def compose(text: str, Loader: type) -> Any:  # noqa: N803 (yaml's own keyword)
        if text not in ORIGINAL.values():
            return real(text, Loader=Loader)
        if (text, Loader) not in cache:
            cache[text, Loader] = real(text, Loader=Loader)
        return cache[text, Loader]

    monkeypatch.setattr(yaml, "compose", compose)


def _figures(capsys: pytest.CaptureFixture, text: str) -> None:
    """The figures of the run, shown in every CI log (the README quotes them)."""
    with capsys.disabled():
        print(f"\n[hardening] {text}")


def test_loading_and_validation_never_crash(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=LOAD_CASES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=mutated_specs())
    def run(case: tuple[str, dict[str, str]]) -> None:
        kind, files = case
        _write(scratch, files)
        valid = [load_and_validate(scratch, env) is not None for env in ENVS]
        outcomes[f"{kind}: {'valid' if all(valid) else 'refused'}"] += 1
        outcomes["cases"] += 1

    run()
    _figures(capsys, f"load+validate: {outcomes['cases']} cases, {dict(sorted(outcomes.items()))}")
    assert outcomes["cases"] >= LOAD_CASES


def _raw_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _raw_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _raw_strings(item)


def _decode_key(key: str) -> str:
    return hcl.unquote(key) if key.startswith('"') else key


def _tfvars_strings(files: dict[str, str], env: str) -> tuple[dict[str, Any], set[str]]:
    """terraform.tfvars of env as python-hcl2 reads it, and the decoded value of every string
    literal in it (decoding raises on a live `${` or `%{` and on a broken escape)."""
    tfvars = hcl2.loads(files[f"infrastructure/environments/{env}/terraform.tfvars"])
    return tfvars, {hcl.unquote(raw) for raw in _raw_strings(tfvars) if raw.startswith('"')}


@functools.cache
def emails_in_tfvars() -> tuple[tuple[str, str], ...]:
    """The e-mail fields whose value the real dev spec puts into terraform.tfvars."""
    files, _owners = pipeline.build(project_of(SPECS), ("dev",))
    _tfvars, strings = _tfvars_strings(files, "dev")
    spec = load_spec(SPECS, "dev")
    return tuple(f for f in EMAIL_FIELDS if _lookup(spec.data, f) in strings)


def _lookup(data: Any, path: tuple) -> Any:
    try:
        return _get(data, path)
    except (KeyError, IndexError, TypeError):
        return None


def assert_tfvars_mean_the_spec(files: dict[str, str], spec: Any) -> None:
    """Every string literal in terraform.tfvars is inert, and the free strings (tags, e-mail
    addresses) read back as exactly the spec's strings."""
    tfvars, strings = _tfvars_strings(files, spec.name)
    tags = {_decode_key(key): hcl.unquote(value) for key, value in tfvars["tags"].items()}
    assert tags == spec.data.get("tags", {})
    for field in emails_in_tfvars():
        assert _lookup(spec.data, field) in strings, field


def test_render_and_verification_never_crash(scratch: Path, capsys: pytest.CaptureFixture) -> None:
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=RENDER_CASES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=render_cases(), env=st.sampled_from(ENVS))
    def run(case: tuple[str, dict[str, str]], env: str) -> None:
        kind, files = case
        _write(scratch, files)
        try:
            files_out, _owners = pipeline.build(project_of(scratch), (env,))
        except SpecError as exc:
            assert_spec_error_lines(exc, scratch)
            outcomes[f"{kind}: refused"] += 1
        else:
            outcomes[f"{kind}: rendered"] += 1
            assert_tfvars_mean_the_spec(files_out, load_spec(scratch, env))
        outcomes["cases"] += 1

    run()
    _figures(capsys, f"render+verify: {outcomes['cases']} cases, {dict(sorted(outcomes.items()))}")
    assert outcomes["cases"] >= RENDER_CASES
    assert sum(n for k, n in outcomes.items() if k.endswith("rendered")) >= RENDERED_AT_LEAST


@pytest.mark.parametrize("value", [
    "${var.db_password}", "%{ for x in y }${x}%{ endfor }", 'a"b', "back\\slash", "<<EOF\nx\nEOF",
    "# not a comment", "// nor this", "/* nor this */", "line\nbreak", "tab\there", "nul\x00", "한국어 🚀",
    "\u2028", "$${already}", "\\u0041", "x" * 256, "${", "%{", "a ${ b", "}${", "${x} ${",
])
def test_hostile_tag_values_round_trip(scratch: Path, value: str) -> None:
    data = yaml.safe_load(ORIGINAL["_common"])
    data["tags"] = {"Hostile": value, "a b:c/d=e+f@g.h": value}
    _write(scratch, {**ORIGINAL, "_common": yaml.safe_dump(data, allow_unicode=True)})
    files, _owners = pipeline.build(project_of(scratch), ("dev",))
    assert_tfvars_mean_the_spec(files, load_spec(scratch, "dev"))


@pytest.mark.parametrize("local", ['o"p', "${var.x}", "%{x", "a\\b", "#c", "//d", "/*e*/", "<<EOF", "\x01"])
def test_hostile_email_round_trips(scratch: Path, local: str) -> None:
    data = yaml.safe_load(ORIGINAL["_common"])
    for field in EMAIL_FIELDS:
        _set(data, field, f"{local}@code1398.io")
    _write(scratch, {**ORIGINAL, "_common": yaml.safe_dump(data, allow_unicode=True)})
    files, _owners = pipeline.build(project_of(scratch), ("dev",))
    assert emails_in_tfvars(), "the e-mail addresses no longer reach terraform.tfvars"
    assert_tfvars_mean_the_spec(files, load_spec(scratch, "dev"))


@pytest.mark.parametrize(("key", "shown"), [
    ("a:b", '$.network["a:b"]'), ("a.b", '$.network["a.b"]'), ("", '$.network[""]'),
    ("line\nbreak", '$.network["line\\nbreak"]'), ("plain_key-1", "$.network.plain_key-1"),
])
def test_unusual_keys_give_one_unambiguous_path(scratch: Path, key: str, shown: str) -> None:
    data = yaml.safe_load(ORIGINAL["dev"])
    data["network"][key] = 1
    _write(scratch, {**ORIGINAL, "dev": yaml.safe_dump(data)})
    with pytest.raises(SpecError) as caught:
        validate(load_spec(scratch, "dev"))
    assert_spec_error_lines(caught.value, scratch)
    assert any(f": {shown}: unknown key" in line for line in caught.value.lines()), caught.value.lines()


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused(scratch: Path, value: float) -> None:
    data = yaml.safe_load(ORIGINAL["_common"])
    data["budget"]["monthly_limit_usd"] = value
    _write(scratch, {**ORIGINAL, "_common": yaml.safe_dump(data)})
    with pytest.raises(SpecError) as caught:
        validate(load_spec(scratch, "dev"))
    assert_spec_error_lines(caught.value, scratch)
    assert "$.budget.monthly_limit_usd" in str(caught.value)
