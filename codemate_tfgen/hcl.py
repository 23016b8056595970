"""HCL text helpers: quoting spec values, reading literals back, and `terraform fmt` layout.

The formatter reproduces what `terraform fmt` (hclwrite) does to indentation and to the
alignment of `=` in runs of single-line attributes, so templates can be written for
readability and the output is still byte-for-byte what `terraform fmt` would print.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from codemate_tfgen import cache


def quote(value: str) -> str:
    """A spec string as an HCL string literal that means exactly that string."""
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + _literal_templates("".join(out)) + '"'


_TEMPLATE_START = re.compile(r"([$%])\{")


def _literal_templates(text: str) -> str:
    """Template sequences would be evaluated by Terraform; doubling the marker (`$${`, `%%{`)
    makes them literal. python-hcl2 (verification) reads a doubled marker only when a `}`
    follows in the same string, so an unclosed one is written `$\\u007b`: the same two
    characters to Terraform, and readable by both."""

    def literal(match: re.Match[str]) -> str:
        marker = match.group(1)
        return marker * 2 + "{" if "}" in text[match.end():] else marker + "\\u007b"

    return _TEMPLATE_START.sub(literal, text)


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def unquote(literal: str) -> str:
    """Read an HCL quoted string literal without interpolation back into its value."""
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise ValueError(f"not a quoted string: {literal!r}")
    body, out, i = literal[1:-1], [], 0
    if "\\" not in body and "{" not in body:
        return body  # nothing to read but the characters (most descriptions): no loop over them
    while i < len(body):
        char = body[i]
        if char == "\\":
            code = body[i + 1]
            if code == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if code == "U":
                out.append(chr(int(body[i + 2 : i + 10], 16)))
                i += 10
                continue
            out.append(_UNESCAPE[code])
            i += 2
        elif body.startswith("$${", i) or body.startswith("%%{", i):
            out.append(char + "{")
            i += 3
        elif body.startswith("${", i) or body.startswith("%{", i):
            raise ValueError(f"string has a template sequence: {literal!r}")
        else:
            out.append(char)
            i += 1
    return "".join(out)


def value(data: Any) -> str:
    """Any spec value (string, number, bool, null, list, map) as an HCL expression.

    Short flat values stay on one line; maps holding maps are laid out one key per line
    (indentation and alignment come from fmt), so a changed spec value changes one line.
    """
    if isinstance(data, dict) and any(isinstance(v, dict) for v in data.values()):
        body = "\n".join(f"{key_name(k)} = {value(v)}" for k, v in data.items())
        return "{\n" + body + "\n}"
    if isinstance(data, dict) and len(data) > 1 and len(_flat(data)) > 80:
        return "{\n" + "\n".join(f"{key_name(k)} = {value(v)}" for k, v in data.items()) + "\n}"
    return _flat(data)


def _flat(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int | float):
        return json.dumps(data)
    if isinstance(data, str):
        return quote(data)
    if isinstance(data, list | tuple):
        return "[" + ", ".join(_flat(item) for item in data) + "]"
    if isinstance(data, dict):
        if not data:
            return "{}"
        return "{ " + ", ".join(f"{key_name(k)} = {_flat(v)}" for k, v in data.items()) + " }"
    raise TypeError(f"no HCL form for {type(data).__name__}")


_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def key_name(key: str) -> str:
    """An object key: bare when it is a plain name, quoted otherwise (`"github-oauth"`: HCL
    would accept the dash, a reader could take it for a subtraction)."""
    return key if _BARE_KEY.match(key) else quote(key)


# --- parsing --------------------------------------------------------------------------------


def parse_cache() -> Path | None:
    return cache.directory("hcl2", cache.fingerprint("hcl2"), cache.fingerprint("lark"))


@lru_cache(maxsize=1)
def _parser() -> Any:
    """python-hcl2's parser (hcl2.parser.parser(): its grammar, post-lexer and LALR) without
    position tracking: python-hcl2 records line and column in every tree node for its
    `with_meta` output and its query API, neither of which hcl2.loads returns, and that
    bookkeeping was 40% of the LALR parse (0.89 s of CPU against 0.52 s on this repository's 97
    files). tests/test_parse.py holds the options and the output to python-hcl2's.

    Building the LALR tables takes ~1.4 s, so Lark keeps them in a file, as python-hcl2 keeps
    its own beside its code: here in the user cache's folder (never Lark's default, a
    predictable name in the shared temporary directory that Lark unpickles). They are code,
    not results, so TFGEN_NO_CACHE leaves them, as it leaves python-hcl2's.
    """
    import hcl2.parser
    from hcl2.postlexer import PostLexer
    from lark import Lark

    tables: str | bool = False
    base = cache.root()
    if base is not None:
        try:
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            tables = str(base / f"lark-tables-{cache.fingerprint('hcl2')}-{cache.fingerprint('lark')}.bin")
        except OSError:
            pass
    return Lark.open("hcl2.lark", rel_to=hcl2.parser.__file__, parser="lalr", postlex=PostLexer(), cache=tables)


def parse_text(text: str) -> dict[str, Any]:
    """What hcl2.loads(text) returns, by its own steps (hcl2.api: parse, transform, serialize)."""
    import hcl2  # ~60 ms with its parser tables: only paid when the cache misses

    return hcl2.serialize(hcl2.transform(_parser().parse(text + "\n")))  # the "\n": as hcl2.parses_to_tree


class ParseFailure(str):
    """The message of a text python-hcl2 refused (a str, so that it crosses processes as one)."""


# Below this many characters to parse, a second process costs more than it saves (fork, and
# sending the results back, ~10 ms; python-hcl2 parses ~250 characters a millisecond here).
PARALLEL_MIN_CHARS = 20_000


def parse_all(texts: list[str], folder: Path | None,
              jobs: int | None = None) -> dict[str, dict[str, Any] | ParseFailure]:
    """python-hcl2's reading of each distinct text: {text: data, or the ParseFailure of its error}.

    The data is cached by the SHA-256 of the text in `folder` (parse_cache(); only successes are
    cached, so errors are always reported fresh). A text is parsed once however many files hold
    it; cached texts are not parsed at all, and python-hcl2 is imported only then. The rest are
    shared out over `jobs` processes (default: the CPUs this process may use), each forked with
    the parser already built, when there is enough to parse; a worker that fails in
    any way only leaves its share to this process, so the result never depends on the workers.
    """
    results: dict[str, dict[str, Any] | ParseFailure] = {}
    missing: list[str] = []
    for text in dict.fromkeys(texts):
        data = cache.get_json(folder, cache.key(text))
        if isinstance(data, dict):
            results[text] = data
        else:
            missing.append(text)
    if not missing:
        return results
    jobs = _usable_cpus() if jobs is None else jobs
    if sum(map(len, missing)) < PARALLEL_MIN_CHARS or not hasattr(os, "fork"):
        jobs = 1
    shares = _shares(missing, jobs)
    _parser()  # built once, before forking, so that every worker has it
    workers = [_fork(share) for share in shares[1:]]
    try:
        parsed = _parse_share(shares[0])
        for index, share in enumerate(shares[1:]):
            parsed.update(_collect(workers[index]) or _parse_share(share))
            workers[index] = None
    finally:  # interrupted: no worker outlives this call
        for worker in workers:
            if worker is not None:
                _stop(worker)
    for text in missing:
        result = parsed[text]
        results[text] = result
        if not isinstance(result, ParseFailure):
            cache.put_json(folder, cache.key(text), result)
    return results


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _shares(texts: list[str], jobs: int) -> list[list[str]]:
    """`jobs` lists of about equal length in characters (longest first, each to the lightest)."""
    shares: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(texts))))]
    sizes = [0] * len(shares)
    for text in sorted(texts, key=len, reverse=True):
        lightest = sizes.index(min(sizes))
        shares[lightest].append(text)
        sizes[lightest] += len(text)
    return shares


def _parse_share(texts: list[str]) -> dict[str, dict[str, Any] | ParseFailure]:
    parsed: dict[str, dict[str, Any] | ParseFailure] = {}
    for text in texts:
        try:
            parsed[text] = parse_text(text)
        except Exception as exc:  # python-hcl2 raises lark errors of many kinds
            parsed[text] = ParseFailure(str(exc))
    return parsed


def _fork(texts: list[str]) -> tuple[int, int] | None:
    """A child process parsing `texts`: (pid, read end of its pipe), or None when none started."""
    try:
        read, write = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid:
        os.close(write)
        return pid, read
    # The child: parse, send back, and leave without running anything of the parent's
    # (no atexit handlers, no flushing of buffers the parent will flush itself).
    status = 1
    try:
        os.close(read)
        payload = pickle.dumps({text: (str(result), True) if isinstance(result, ParseFailure) else (result, False)
                                for text, result in _parse_share(texts).items()}, pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
        status = 0
    finally:
        os._exit(status)


def _stop(worker: tuple[int, int]) -> None:
    pid, read = worker
    os.close(read)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _collect(worker: tuple[int, int] | None) -> dict[str, dict[str, Any] | ParseFailure] | None:
    """A worker's results, or None when it did not start, died or sent something incomplete."""
    if worker is None:
        return None
    pid, read = worker
    try:
        with os.fdopen(read, "rb") as pipe:
            payload = pipe.read()
    except OSError:
        payload = b""
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        received = pickle.loads(payload)
    except Exception:  # a truncated or damaged payload: parse the share here
        return None
    return {text: ParseFailure(value) if failed else value for text, (value, failed) in received.items()}


# --- lexing ---------------------------------------------------------------------------------

_OPEN = "{[("
_CLOSE = "}])"
# Runs of characters that scan() passes over without yielding anything but "code" tokens: in
# code, everything but what starts a string, comment, heredoc, bracket, `=` or line; in a string,
# everything but an escape, its end, an interpolation or a line.
_PLAIN_CODE = re.compile(r'[^"#/<{}\[\]()=\n]+')
_PLAIN_STRING = re.compile(r'[^\\"$%\n]+')


def scan(text: str, *, code: bool = True) -> Iterator[tuple[int, str, str]]:
    """Yield (offset, kind, token) for the structural tokens of HCL source.

    kinds: "open"/"close" (brackets, template interpolations included), "equal" (a single `=`),
    "code" (one character of code outside strings and comments), "newline". String contents
    and comments are skipped, so brackets in them never count. With code=False no "code"
    tokens are yielded, and runs of plain characters are skipped in one step (fmt needs only
    the structure: scanning character by character was most of a render's time).
    """
    stack: list[str] = []  # "code" frames opened by brackets/interpolations, "string" frames
    i, n = 0, len(text)
    in_string = False
    while i < n:
        if not code:
            plain = (_PLAIN_STRING if in_string else _PLAIN_CODE).match(text, i)
            if plain:
                i = plain.end()
                continue
        char = text[i]
        if in_string:
            if char == "\\":
                i += 2
                continue
            if char == '"':
                in_string = False
                stack.pop()
            elif text.startswith("${", i) or text.startswith("%{", i):
                if text.startswith("$${", i - 1) or text.startswith("%%{", i - 1):
                    pass
                else:
                    stack.append("interp")
                    in_string = False
                    yield i, "open", text[i : i + 2]
                    i += 2
                    continue
            elif char == "\n":
                yield i, "newline", char
            i += 1
            continue
        if char == '"':
            stack.append("string")
            in_string = True
        elif char == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        elif text.startswith("<<", i) and re.match(r"<<-?[A-Za-z_]", text[i:]):
            raise ValueError("heredocs are not supported in generated HCL")
        elif char in _OPEN:
            stack.append("code")
            yield i, "open", char
        elif char in _CLOSE:
            frame = stack.pop() if stack else "code"
            yield i, "close", char
            if frame == "interp":
                in_string = True
        elif char == "=":
            prev, nxt = text[i - 1 : i], text[i + 1 : i + 2]
            if nxt in "=>" and nxt or prev in "=!<>" and prev:
                yield i, "code", char
            else:
                yield i, "equal", char
        elif char == "\n":
            yield i, "newline", char
        elif not char.isspace():
            yield i, "code", char
        i += 1


@lru_cache(maxsize=8192)
def code_segments(text: str) -> str:
    """`text` with the contents of string literals and comments blanked out (same length).
    Cached: verification asks for the same strings twice (references, then variable uses)."""
    out = [" " if c != "\n" else c for c in text]
    for offset, _kind, token in scan(text):
        out[offset : offset + len(token)] = token
    return "".join(out)


# --- formatting -----------------------------------------------------------------------------


def fmt(text: str) -> str:
    """Indent and align like `terraform fmt`; collapse blank-line runs; end with one newline."""
    lines = [line.strip() for line in text.split("\n")]
    shapes = [_line_shape(line) for line in lines]

    # Indentation (hclwrite formatIndent): a line that opens brackets indents what follows by
    # one level however many it opens; closing lines dedent by the levels they close.
    indented: list[str] = []
    indents: list[int] = []
    for line, (balance, _equal, _assign) in zip(lines, shapes, strict=True):
        depth = len(indents)
        if balance > 0:
            indents.append(balance)
        elif balance < 0:
            closed = -balance
            while closed > 0 and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
            depth = len(indents)
        indented.append("  " * depth + line if line else "")

    # Alignment (hclwrite formatCells): `=` lines up within a run of consecutive lines that
    # each assign a one-line value; anything else ends the run.
    result: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(lead) for lead, _ in run), default=0)
        result.extend(f"{lead.ljust(width)} = {rhs}" for lead, rhs in run)
        run.clear()

    for line, (_balance, equal, assign) in zip(indented, shapes, strict=True):
        cut = len(line) - len(line.lstrip()) + (equal or 0)
        if not assign:
            flush()
            # An `=` that opens a multi-line value is not aligned: one space before it.
            result.append(f"{line[:cut].rstrip()} {line[cut:]}" if equal is not None else line)
            continue
        run.append((line[:cut].rstrip(), line[cut + 1 :].strip()))
    flush()
    return _tidy_blank_lines(result)


@lru_cache(maxsize=1 << 16)  # most lines recur (closing braces, tags, each environment's copy of a block)
def _line_shape(line: str) -> tuple[int, int | None, bool]:
    """(net bracket change, column of the line's first `=` or None, whether that `=` assigns a
    one-line value and so joins an alignment run)."""
    tokens = list(scan(line, code=False))
    balance = sum(1 if kind == "open" else -1 if kind == "close" else 0 for _, kind, _ in tokens)
    for position, (column, kind, _token) in enumerate(tokens):
        if kind == "equal":
            if not line[:column].strip():
                return balance, None, False
            rest = tokens[position:]
            rest_balance = sum(1 if k == "open" else -1 if k == "close" else 0 for _, k, _ in rest)
            return balance, column, rest_balance == 0
    return balance, None, False


def _tidy_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line:
            if not out or not out[-1] or out[-1].endswith(("{", "[", "(")):
                continue
        elif out and not out[-1] and line.lstrip()[:1] in ("}", "]", ")"):
            out.pop()
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"
