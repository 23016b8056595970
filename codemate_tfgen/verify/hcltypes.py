"""Terraform type expressions and the variable references that use them.

verify.py checks each module's `var.X.a.b` references against the declared type of `X`, and
that every attribute a variable's type declares is used: a template that names an attribute
the type lacks, or a spec value that reaches a variable nobody reads, is a finding before
anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemate_tfgen import hcl

# --- types -----------------------------------------------------------------------------------

PRIMITIVES = {"string", "number", "bool", "any"}


@dataclass(frozen=True)
class Type:
    kind: str  # string, number, bool, any, list, set, map, tuple, object
    element: Type | None = None  # list, set, map
    attributes: tuple[tuple[str, Type], ...] = ()  # object
    items: tuple[Type, ...] = ()  # tuple

    def attribute(self, name: str) -> Type | None:
        return dict(self.attributes).get(name)


ANY = Type("any")
_TOKEN = re.compile(r'\s*(?:(?P<name>[A-Za-z_][\w-]*)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d[\d.eE+-]*)'
                    r"|(?P<punct>[(){}\[\],=]))")


class TypeSyntaxError(ValueError):
    pass


def parse_type(text: str) -> Type:
    """A type expression as python-hcl2 gives it (`${map(object({a = string}))}`) or as written."""
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    tokens = _tokens(text)
    parser = _Parser(tokens)
    found = parser.type()
    if parser.position != len(tokens):
        raise TypeSyntaxError(f"unexpected {tokens[parser.position]!r} in type {text!r}")
    return found


def _tokens(text: str) -> list[str]:
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            if text[position:].strip():
                raise TypeSyntaxError(f"cannot read type {text!r} at {position}")
            break
        out.append(match.group(match.lastgroup))
        position = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.position = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise TypeSyntaxError(f"expected {expected or 'a token'}, found {token!r}")
        self.position += 1
        return token

    def type(self) -> Type:
        name = self.take()
        if name in PRIMITIVES:
            return Type(name)
        self.take("(")
        if name in ("list", "set", "map"):
            found = Type(name, element=self.type())
        elif name == "optional":
            found = self.type()
            if self.peek() == ",":
                self.take(",")
                self.skip_expression()
        elif name == "tuple":
            self.take("[")
            items = []
            while self.peek() != "]":
                items.append(self.type())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            found = Type("tuple", items=tuple(items))
        elif name == "object":
            self.take("{")
            attributes = []
            while self.peek() != "}":
                key = self.take()
                self.take("=")
                attributes.append((hcl.unquote(key) if key.startswith('"') else key, self.type()))
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            found = Type("object", attributes=tuple(attributes))
        else:
            raise TypeSyntaxError(f"unknown type constructor {name!r}")
        self.take(")")
        return found

    def skip_expression(self) -> None:
        """An optional() default: any literal, up to the closing parenthesis of optional()."""
        depth = 0
        while True:
            token = self.peek()
            if token is None or (depth == 0 and token == ")"):
                return
            depth += token in "([{"
            depth -= token in ")]}"
            self.position += 1


# --- references ------------------------------------------------------------------------------

_STEP = r"(?:\.[A-Za-z_][\w-]*|\.\*|\[[^\[\]]*\])"
_VAR = re.compile(rf"(?<![\w.])var\.([A-Za-z_][\w-]*)((?:{_STEP})*)")
_FOR = re.compile(rf"\bfor\s+(?:([A-Za-z_]\w*)\s*,\s*)?([A-Za-z_]\w*)\s+in\s+var\.([A-Za-z_][\w-]*)((?:{_STEP})*)\s*:")
_STEPS = re.compile(r"\.([A-Za-z_][\w-]*)|\.(\*)|\[([^\[\]]*)\]")
ELEMENT = "*"  # a step into a map, list or set element, whatever the key


def steps(chain: str) -> list[str]:
    """`.a["b"][0].c` -> ["a", "b", "*", "c"]: attribute names, quoted keys as names, the rest *."""
    out = []
    for name, splat, index in _STEPS.findall(chain):
        if name:
            out.append(name)
        elif splat:
            out.append(ELEMENT)
        elif index.startswith('"') and index.endswith('"'):
            out.append(hcl.unquote(index))
        else:
            out.append(ELEMENT)
    return out


@dataclass(frozen=True)
class Use:
    variable: str
    path: tuple[str, ...]  # steps below the variable; () is the whole value
    text: str  # as written, for messages


def uses(code: str) -> Iterator[Use]:
    """Every use of a variable in one expression (strings and comments blanked: hcl.code_segments).

    `var.X` as the collection of a `for` is not a use of all of X: its iteration value is
    followed instead, so `[for s in var.services : s.port]` uses services.*.port.
    """
    iterables: set[int] = set()
    for match in _FOR.finditer(code):
        _key, value, variable, chain = match.groups()
        iterables.add(code.index("var.", match.start()))
        base = tuple(steps(chain))
        body_end = _closing(code, match.end())
        yield from element_uses(code[match.end():body_end], value, variable, base)
    for match in _VAR.finditer(code):
        if match.start() in iterables:
            continue
        yield Use(match.group(1), tuple(steps(match.group(2))), match.group(0))


def element_uses(code: str, alias: str, variable: str, base: tuple[str, ...]) -> Iterator[Use]:
    """Uses of `alias` (each.value, or a dynamic block's <label>.value) standing for elements
    of var.<variable><base> (a resource's or block's for_each)."""
    for match in re.finditer(rf"(?<![\w.]){re.escape(alias)}((?:{_STEP})*)", code):
        yield Use(variable, base + (ELEMENT,) + tuple(steps(match.group(1))), match.group(0))


def _closing(code: str, start: int) -> int:
    """Where the bracket open at `start` closes (the end of the for expression's body)."""
    depth = 0
    for position in range(start, len(code)):
        char = code[position]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return position
            depth -= 1
    return len(code)


# --- checking --------------------------------------------------------------------------------


def undeclared_step(declared: Type, path: tuple[str, ...]) -> str | None:
    """Why `path` cannot be read from a value of type `declared`, or None when it can."""
    current = declared
    for depth, step in enumerate(path):
        where = ".".join(path[:depth]) or "the variable"
        if current.kind == "any":
            return None
        if current.kind == "object":
            found = current.attribute(step) if step != ELEMENT else None
            if found is None:
                names = ", ".join(name for name, _ in current.attributes)
                return f"{where} has no attribute {step!r} (its type has: {names})"
            current = found
        elif current.kind in ("map", "list", "set"):
            current = current.element or ANY
        elif current.kind == "tuple":
            current = ANY
        else:
            return f"{where} is a {current.kind}; it has no {step!r}"
    return None


def unused_attributes(declared: Type, paths: list[tuple[str, ...]], prefix: str = "") -> Iterator[str]:
    """Attributes of `declared` that none of `paths` reads (a path that stops at a value reads
    all of it: the value is handed on whole)."""
    if not paths or any(not path for path in paths):
        return
    if declared.kind == "object":
        for name, inner in declared.attributes:
            below = [path[1:] for path in paths if path[0] == name]
            if not below:
                yield f"{prefix}{name}"
            else:
                yield from unused_attributes(inner, below, f"{prefix}{name}.")
    elif declared.kind in ("map", "list", "set") and declared.element is not None:
        yield from unused_attributes(declared.element, [path[1:] for path in paths], f"{prefix}*.")
