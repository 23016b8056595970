"""Load: read spec files into plain data, remembering where every value came from.

A spec is YAML. An environment file (`specs/<env>.yaml`) may name a base file with
`extends:`; the two are deep-merged (maps merge, lists and scalars replace), and each
value keeps the location of the file and line that supplied it, so that every later
error can point at the line a user has to change.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codemate_tfgen import gitrefs
from codemate_tfgen.errors import Location, SpecError, SpecProblem, UsageError

ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
# Bounds that keep a hostile or broken file from exhausting time or memory.
MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 10_000
MAX_DEPTH = 64

JsonPath = tuple[str | int, ...]


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: JsonPath) -> str:
    """`$.a.b[0]`; a key that is not a plain name is JSON-quoted (`$.tags["a b"]`), so a path
    stays one unambiguous line whatever the key holds (dots, colons, newlines, nothing)."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


@dataclass
class Spec:
    """A merged environment spec and the source location of each of its values."""

    name: str
    data: dict[str, Any]
    files: list[Path]
    value_locations: dict[JsonPath, Location] = field(default_factory=dict)
    key_locations: dict[JsonPath, Location] = field(default_factory=dict)
    # What was typed for a plain (unquoted) scalar that YAML did not read as a string: `no`,
    # `17`, `~`; messages show it as typed, not as YAML 1.1 read it (false, 17, null).
    value_texts: dict[JsonPath, str] = field(default_factory=dict)
    # The key paths each of `files` writes itself, in the same order.
    file_keys: list[frozenset[JsonPath]] = field(default_factory=list)

    def typed(self, path: JsonPath) -> str | None:
        """The text of a plain scalar that YAML read as no string (a boolean, number or null)."""
        return self.value_texts.get(path)

    def location(self, path: JsonPath, *, key: bool = False) -> Location:
        """The location of a value (or of its key), else of the nearest ancestor that exists."""
        table = self.key_locations if key else self.value_locations
        for cut in range(len(path), -1, -1):
            found = table.get(path[:cut]) or self.value_locations.get(path[:cut])
            if found:
                return found
        return Location(str(self.files[-1]), 1, 1)

    def problem(self, path: JsonPath, message: str, *, key: bool = False) -> SpecProblem:
        return SpecProblem(self.location(path, key=key), format_path(path), message)

    def most_specific(self, *paths: JsonPath) -> JsonPath:
        """Of values a rule relates, the one set in the most specific file (an environment over
        its bases): where the user changed something. Between values of one file, a line changed
        since git's HEAD (a rule just added) over one that was there; else the first one."""
        rank = {display_path(path): index for index, path in enumerate(self.files)}
        best = max(rank.get(self.location(path).file, -1) for path in paths)
        tied = [path for path in paths if rank.get(self.location(path).file, -1) == best]
        if len(tied) > 1 and best >= 0:
            changed = gitrefs.changed_lines(self.files[best]) or set()
            return next((path for path in tied if self.location(path).line in changed), tied[0])
        return tied[0]

    @property
    def sources(self) -> list[str]:
        """The spec files as generated headers name them, `<specs folder>/<file>`, whatever the
        working directory and however --specs was written (`.` included)."""
        return [_source(path) for path in self.files]

    def sources_of(self, path: JsonPath) -> list[str]:
        """The spec files, named as `sources` names them, that write the key at `path`: those a
        user edits to remove it (an environment's own file cannot remove what a base sets)."""
        return [_source(file) for file, keys in zip(self.files, self.file_keys, strict=True) if path in keys]


def _source(path: Path | str) -> str:
    path = Path(os.path.abspath(path))
    return f"{path.parent.name}/{path.name}"


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamp conversion: specs only hold JSON types.

    Composing stops at the node and depth bounds, so a huge or deeply nested file costs
    bounded time and memory and never exhausts Python's recursion limit.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._nodes += 1
        self._depth += 1
        try:
            if self._nodes > MAX_NODES or self._depth > MAX_DEPTH:
                what = "too deeply nested" if self._depth > MAX_DEPTH else f"more than {MAX_NODES} values"
                raise _ComposeLimit(self.peek_event().start_mark, f"document is {what}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _ComposeLimit(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark = mark
        self.message = message


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class _Document:
    data: Any
    value_locations: dict[JsonPath, Location]
    key_locations: dict[JsonPath, Location]
    value_texts: dict[JsonPath, str]

    def tables(self) -> tuple[dict[JsonPath, Any], ...]:
        return self.value_locations, self.key_locations, self.value_texts


# Plain scalars YAML 1.1 reads as numbers where YAML 1.2 and every reader of the spec see
# something else: a leading 0 is octal (0123 is 83), colons are base 60 (1:30 is 90).
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


def _surprise(text: str, value: Any) -> str | None:
    """Why a plain scalar does not mean what it looks like, and the fix; None when it does."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if _OCTAL.fullmatch(text):
        return (f"YAML 1.1 reads an unquoted {text} as the octal number {value}; quote it for text: "
                f"{json.dumps(text)}, or write the number without a leading 0")
    if _BASE_60.fullmatch(text):
        return f"YAML 1.1 reads an unquoted {text} as {value} (base 60); quote it for text: {json.dumps(text)}"
    return None


def _loc(display: str, node: yaml.Node) -> Location:
    return Location(display, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(display: str, root: yaml.Node, problems: list[SpecProblem]) -> _Document:
    loader = _Loader("")
    values: dict[JsonPath, Location] = {}
    keys: dict[JsonPath, Location] = {}
    texts: dict[JsonPath, str] = {}
    budget = [MAX_NODES]

    def walk(node: yaml.Node, path: JsonPath, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            what = "too deeply nested" if depth > MAX_DEPTH else f"more than {MAX_NODES} values"
            raise _TooLarge(SpecProblem(_loc(display, node), format_path(path), f"document is {what}"))
        values[path] = _loc(display, node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    problems.append(SpecProblem(_loc(display, key_node), format_path(path),
                                                "YAML merge keys (<<) are not supported; use extends"))
                    continue
                key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    problems.append(SpecProblem(_loc(display, key_node), format_path(path),
                                                "keys must be strings"))
                    continue
                child = path + (key,)
                if key in out:
                    problems.append(SpecProblem(
                        _loc(display, key_node), format_path(child),
                        f"duplicate key {key!r} (first defined at line {keys[child].line})"))
                    continue
                keys[child] = _loc(display, key_node)
                out[key] = walk(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        value = loader.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):  # .nan/.inf mean nothing in a spec,
            # and json.dumps would write them as NaN/Infinity, which HCL reads as references.
            problems.append(SpecProblem(_loc(display, node), format_path(path), "not a finite number"))
        if node.style is None and not isinstance(value, str):
            texts[path] = node.value
            surprise = _surprise(node.value, value)
            if surprise:
                problems.append(SpecProblem(_loc(display, node), format_path(path), surprise))
        return value

    return _Document(walk(root, (), 0), values, keys, texts)


class _TooLarge(Exception):
    def __init__(self, problem: SpecProblem):
        self.problem = problem


def display_path(path: Path) -> str:
    """Paths in messages are relative to the working directory when they can be."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _invalid_yaml(display: str, text: str, exc: yaml.MarkedYAMLError) -> SpecProblem:
    """Where the parser stopped; for a bracket or quote left open, where it was opened (the
    parser notices it only where the document goes on without it, often lines later)."""
    mark = exc.problem_mark or exc.context_mark
    message = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
    if mark is None:
        return SpecProblem(Location(display, 1, 1), "$", f"invalid YAML: {message}")
    opened = _left_open(text, exc)
    if opened is None:
        indent = _misindented(text, exc)
        if indent is not None:
            return SpecProblem(Location(display, indent[0], indent[1]), "$", f"invalid YAML: {indent[2]}")
        return SpecProblem(Location(display, mark.line + 1, mark.column + 1), "$", f"invalid YAML: {message}")
    what = "quote" if text[opened.index] in "'\"" else repr(text[opened.index])
    return SpecProblem(Location(display, opened.line + 1, opened.column + 1), "$",
                       f"invalid YAML: this {what} is never closed (at line {mark.line + 1}, column "
                       f"{mark.column + 1}: {message})")


def _misindented(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, int, str] | None:
    """A line indented where no mapping or list of the document continues, in words rather than
    the parser's tokens (`expected <block end>`, `mapping values are not allowed here`): (line,
    column, message), or None when indentation is not what stopped the parser."""
    problem, mark = str(exc.problem or ""), exc.problem_mark
    if mark is None or not (problem.startswith("expected <block end>")
                            or problem == "mapping values are not allowed here"):
        return None
    lines = text.splitlines()
    here = lines[mark.line] if mark.line < len(lines) else ""
    column = len(here) - len(here.lstrip(" ")) + 1
    # The columns a line may start at here: the line above's, and each one further out above it.
    above: list[tuple[int, int, bool]] = []  # (column, line, is a list item)
    for number in range(mark.line - 1, -1, -1):
        stripped = lines[number].lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        start = len(lines[number]) - len(stripped) + 1
        if not above or start < above[-1][0]:
            above.append((start, number + 1, stripped.startswith("- ") or stripped == "-"))
    same = next((entry for entry in above if entry[0] == column), None)
    if same is not None and same[2] != here.lstrip(" ").startswith("-"):
        kinds = ("a key", "list items") if same[2] else ("a list item", "keys")
        return (mark.line + 1, column, f"{kinds[0]} in the column of the {kinds[1]} from line {same[1]}: a "
                f"mapping holds keys and a list holds items, never both; indent the line, or make it the same kind")
    opens = bool(above) and column > above[0][0] and lines[above[0][1] - 1].split(" #")[0].rstrip().endswith(":")
    if same is not None or opens:  # indented like its neighbours, or under a key: not what stopped the parser
        return (mark.line + 1, mark.column + 1, "': ' inside a value starts a key; quote the value") if (
            problem.startswith("mapping values")) else None
    where = " or ".join(f"{start} (line {number})" for start, number, _ in above) or "1"
    return (mark.line + 1, column, f"this line starts at column {column}, where nothing above it continues: the "
            f"lines above start at column {where}; indent it like the entries it belongs with")


_FLOW_OPEN = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
_FLOW_CLOSE = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)


def _left_open(text: str, exc: yaml.MarkedYAMLError) -> yaml.Mark | None:
    """The quote, '[' or '{' still open where parsing failed, when that is why it failed."""
    problem = str(exc.problem or "")
    if exc.context == "while scanning a quoted scalar":
        return exc.context_mark if "end of stream" in problem else None
    if exc.problem_mark is None or not re.search(r"expected ',' or '[]}]'|<stream end>", problem):
        return None
    opened: list[yaml.Mark] = []
    try:
        for token in yaml.scan(text[: exc.problem_mark.index], Loader=yaml.SafeLoader):
            if isinstance(token, _FLOW_OPEN):
                opened.append(token.start_mark)
            elif isinstance(token, _FLOW_CLOSE) and opened:
                opened.pop()
    except yaml.YAMLError:
        pass  # the text was cut where parsing failed; what was open before the cut is known
    return opened[-1] if opened else None


def read_document(path: Path) -> _Document:
    """Parse one YAML file; every problem in it becomes a SpecError naming file and line."""
    display = display_path(path)
    here = Location(display, 1, 1)
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "missing" if not path.exists() else "not a regular file"
        raise SpecError([SpecProblem(here, "$", f"spec file is {kind}")])
    with path.open("rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError([SpecProblem(here, "$", f"spec file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([SpecProblem(Location(display, line, column), "$", "file is not valid UTF-8")]) from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _ComposeLimit as exc:
        where = Location(display, exc.mark.line + 1, exc.mark.column + 1)
        raise SpecError([SpecProblem(where, "$", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_invalid_yaml(display, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(here, "$", f"invalid YAML: {' '.join(str(exc).split())}")]) from None
    if root is None:
        raise SpecError([SpecProblem(here, "$", "spec file is empty")])
    problems: list[SpecProblem] = []
    try:
        document = _convert(display, root, problems)
    except _TooLarge as exc:
        raise SpecError([exc.problem]) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise SpecError([SpecProblem(here, "$", f"invalid YAML: {' '.join(str(exc).split())}")]) from None
    if problems:
        raise SpecError(problems)
    if not isinstance(document.data, dict):
        raise SpecError([SpecProblem(_loc(display, root), "$", "a spec must be a mapping of keys to values")])
    return document


def _merge(base: _Document, top: _Document) -> _Document:
    """Deep merge: maps merge key by key, anything else in `top` replaces `base`. What is known of
    each value (locations, typed text) comes from the file that supplied it."""
    tables = tuple(dict(table) for table in base.tables())

    def replace(prefix: JsonPath) -> None:
        """`top` supplies the value at `prefix`: forget what `base` knew of it and below it."""
        for table, source in zip(tables, top.tables(), strict=True):
            for path in [p for p in table if p[: len(prefix)] == prefix]:
                del table[path]
            table.update((p, v) for p, v in source.items() if p[: len(prefix)] == prefix)

    def merge(a: Any, b: Any, path: JsonPath) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for key, value in b.items():
                out[key] = merge(a[key], value, path + (key,)) if key in a else value
                if key not in a:
                    replace(path + (key,))
            return out
        replace(path)
        return b

    data = merge(base.data, top.data, ())
    return _Document(data, *tables)


# A project's prices over tfgen's price book (docs/cost.md): it sits next to the specs, so a copy
# of the specs directory (and `cost --against REF`) carries it, and it is neither a spec nor a base.
PRICES_FILE = "_prices.yaml"


def environment_names(specs_dir: Path) -> list[str]:
    """Environments are the spec files whose name does not start with `_` (bases do)."""
    if not specs_dir.is_dir():
        raise UsageError(f"{display_path(specs_dir)}: specs directory not found")
    return sorted(p.stem for p in specs_dir.glob("*.yaml") if not p.name.startswith("_"))


def closest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggestion(word: str, choices: list[str], known: str = "known") -> str:
    """What to add to "no such X": the closest choice, else the choices there are."""
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else f" ({known}: {', '.join(choices) or 'none'})"


def _missing_base(parent: str, extending: Path) -> str:
    others = sorted(p.name for p in extending.parent.glob("*.yaml") if p.name not in (extending.name, PRICES_FILE))
    return f"{parent} does not exist" + suggestion(parent, others, known="specs here")


def load_spec(specs_dir: Path, name: str, bases: Path | None = None) -> Spec:
    """Read `<specs_dir>/<name>.yaml` and the chain of files it extends, merged. A base missing
    beside the file that names it is looked for in `bases` (a spec file kept outside the specs
    directory still extends the project's bases)."""
    if not ENV_NAME.match(name):
        raise UsageError(
            f"{name!r}: not an environment name (lowercase letters, digits and '-', at most 16 characters)")
    path = specs_dir / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(environment_names(specs_dir)) or "none"
        raise UsageError(f"{display_path(path)}: no spec for environment {name!r} (known: {known})")
    chain: list[Path] = []
    documents: list[_Document] = []
    current: Path | None = path
    while current is not None:
        chain.append(current)
        document = read_document(current)
        documents.append(document)
        parent = document.data.get("extends")
        current = None
        if parent is not None:
            where = document.key_locations.get(("extends",)) or Location(display_path(path), 1, 1)
            if not isinstance(parent, str) or "/" in parent or not parent.endswith(".yaml"):
                raise SpecError([SpecProblem(where, "$.extends",
                                             "must name a .yaml file in the same directory")])
            current = chain[-1].parent / parent
            if not current.exists() and bases is not None and (bases / parent).exists():
                current = bases / parent
            if not current.exists():
                raise SpecError([SpecProblem(where, "$.extends", _missing_base(parent, chain[-1]))])
            if current in chain:
                names = " -> ".join(p.name for p in [*chain, current])
                raise SpecError([SpecProblem(where, "$.extends", f"extends forms a cycle: {names}")])
    merged = documents[-1]
    for document in reversed(documents[:-1]):
        merged = _merge(merged, document)
    return Spec(name, merged.data, list(reversed(chain)), merged.value_locations, merged.key_locations,
                merged.value_texts, [frozenset(document.key_locations) for document in reversed(documents)])
