"""What a module's README lists, read back from the rendered HCL the way terraform-docs does:
inputs from variables.tf, outputs from outputs.tf, the blocks main.tf declares, and a usage
example. Nothing is listed from a second source, so the README cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from codemate_tfgen import hcl

# The text is already `terraform fmt` output: top-level blocks open at column 0.
_BLOCK = re.compile(r'^(resource|data) "([^"]+)" "([^"]+)" \{', re.MULTILINE)
_MODULE = re.compile(r'^module "([^"]+)" \{\n(.*?)^\}', re.MULTILINE | re.DOTALL)
_SOURCE = re.compile(r'^\s*source\s*=\s*"([^"]*)"', re.MULTILINE)
REGISTRY = "https://registry.terraform.io/providers/hashicorp/{provider}/latest/docs/{kind}/{name}"


@dataclass(frozen=True)
class Resource:
    mode: str  # resource | data
    type: str
    name: str

    @property
    def address(self) -> str:
        return f"{'data.' if self.mode == 'data' else ''}{self.type}.{self.name}"

    @property
    def kind(self) -> str:
        return "data source" if self.mode == "data" else "resource"

    @property
    def link(self) -> str:
        """The provider's documentation page, as terraform-docs links it."""
        provider, _, name = self.type.partition("_")
        kind = "data-sources" if self.mode == "data" else "resources"
        return REGISTRY.format(provider=provider, kind=kind, name=name)


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    type: str  # the type expression as written
    default: str | None  # the default expression as written; None when the input is required

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str


# Top-level blocks of `terraform fmt` output: the label line at column 0, the body indented by
# two, the closing brace at column 0.
_TOP_BLOCK = re.compile(r'^(variable|output) "([^"]+)" \{\n(.*?)^\}', re.MULTILINE | re.DOTALL)
_ARGUMENT = re.compile(r"^  ([A-Za-z_][\w-]*)\s*= ?(.*)$")


def _arguments(body: str) -> dict[str, str]:
    """The body's own arguments as source text (a multi-line value is kept whole); nested
    blocks such as `validation {}` are not arguments and are left out."""
    found: dict[str, str] = {}
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        match = _ARGUMENT.match(lines[i])
        i += 1
        if not match:
            continue
        name, text = match.groups()
        while _balance(text) > 0 and i < len(lines):
            text += "\n" + lines[i]
            i += 1
        found[name] = text
    return found


def _balance(text: str) -> int:
    return sum(1 if kind == "open" else -1 for _, kind, _ in hcl.scan(text, code=False) if kind in ("open", "close"))


def _blocks(text: str, kind: str) -> Iterator[tuple[str, dict[str, str]]]:
    for match in _TOP_BLOCK.finditer(text):
        if match.group(1) == kind:
            yield match.group(2), _arguments(match.group(3))


def variables(variables_tf: str) -> list[Variable]:
    """The inputs a variables.tf declares, in file order."""
    return [Variable(name, hcl.unquote(args["description"]), args["type"], args.get("default"))
            for name, args in _blocks(variables_tf, "variable")]


def outputs(outputs_tf: str) -> list[Output]:
    """The outputs an outputs.tf declares, in file order."""
    return [Output(name, hcl.unquote(args["description"])) for name, args in _blocks(outputs_tf, "output")]


def resources(main_tf: str) -> list[Resource]:
    """Resource and data blocks, sorted like terraform-docs (by type, then name)."""
    found = {Resource(*match.groups()) for match in _BLOCK.finditer(main_tf)}
    return sorted(found, key=lambda r: (r.type, r.name, r.mode))


def module_calls(main_tf: str) -> list[dict[str, str]]:
    """Module blocks and their sources, sorted by name."""
    calls = []
    for match in _MODULE.finditer(main_tf):
        source = _SOURCE.search(match.group(2))
        calls.append({"name": match.group(1), "source": source.group(1) if source else "n/a"})
    return sorted(calls, key=lambda call: call["name"])


def providers(versions: dict[str, str], aliases: list[str]) -> list[dict[str, str]]:
    """The aws provider, and each configuration alias the module expects, with its version."""
    names = ["aws"] + [f"aws.{alias}" for alias in aliases]
    return [{"name": name, "version": versions["aws"]} for name in names]


def usage(call_name: str, source: str, inputs: list[Variable], aliases: list[str]) -> str:
    """A module block passing every required input, formatted as `terraform fmt` would."""
    lines = [f'module "{call_name}" {{', f"source = {hcl.quote(source)}", ""]
    if aliases:
        lines += ["providers = {", "aws = aws"]
        lines += [f"aws.{alias} = aws.{alias}" for alias in aliases]
        lines += ["}", ""]
    lines += [f"{v.name} = var.{v.name}" for v in inputs if v.required]
    lines.append("}")
    return hcl.fmt("\n".join(lines) + "\n").rstrip("\n")


def tree(root: str, entries: list[tuple[str, str]]) -> str:
    """A directory tree drawn like `tree` prints it, with a comment after each entry that has one.

    entries: (path relative to root, comment); a path ending in `/` is a directory. Parents
    need no entry of their own; children keep the order they are given in.
    """
    children: dict[str, list[str]] = {"": []}
    comments: dict[str, str] = {}
    for path, comment in entries:
        parts = path.rstrip("/").split("/")
        for depth in range(1, len(parts) + 1):
            node = "/".join(parts[:depth]) + ("/" if depth < len(parts) or path.endswith("/") else "")
            parent = "/".join(parts[: depth - 1]) + "/" if depth > 1 else ""
            if node not in children.setdefault(parent, []):
                children[parent].append(node)
            children.setdefault(node, [])
        if comment:
            comments[path] = comment
    lines: list[tuple[str, str]] = [(f"{root.rstrip('/')}/", "")]

    def walk(node: str, prefix: str) -> None:
        kids = children.get(node, [])
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            name = kid.rstrip("/").rsplit("/", 1)[-1] + ("/" if kid.endswith("/") else "")
            lines.append((f"{prefix}{'└── ' if last else '├── '}{name}", comments.get(kid, "")))
            walk(kid, prefix + ("    " if last else "│   "))

    walk("", "")
    width = max(len(text) for text, _ in lines) + 2
    return "\n".join(f"{text:<{width}}# {comment}" if comment else text for text, comment in lines)


def summary(description: str) -> str:
    """The first clause of a module description, for tables: up to its first `:` or full stop
    that is followed by a space and not inside parentheses or quotes (nor an "e.g.")."""
    text = " ".join(description.split())
    depth, quoted = 0, False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(depth - 1, 0)
        elif (char in ".:" and not depth and not quoted and text[i + 1 : i + 2] in (" ", "")
              and not text[:i + 1].endswith(("e.g.", "i.e."))):
            return text[:i]
    return text
