"""Where a generated line comes from: `tfgen explain PATH[:LINE]`.

The tree is rendered afresh with tracing (render.templates.tracing: each line's template line,
through Jinja's debug info), so the answer is about what tfgen generates now. For a line of an
environment's root, the spec values in it are found from what the line reads: `var.<name>...`
in its .tf files, the assignment's place inside a variable in terraform.tfvars; each root
variable knows the spec value it carries (RootVariable.spec_path). Modules are the same for
every environment: their values come from the callers, so only the template is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from codemate_tfgen.errors import UsageError
from codemate_tfgen.layout import ROOT
from codemate_tfgen.project import Project
from codemate_tfgen.render import templates as rendering
from codemate_tfgen.render.context import build_context
from codemate_tfgen.spec.load import Spec, display_path, environment_names, format_path
from codemate_tfgen.spec.valid import load_valid_specs

_REFERENCE = re.compile(r'\bvar\.(\w+)((?:\.\w+|\["[^"]+"\]|\[\d+\])*)')
_STEP = re.compile(r'\.(\w+)|\["([^"]+)"\]|\[(\d+)\]')
_ASSIGNMENT = re.compile(r'^"?([\w.-]+)"?\s*=\s*(.*)$')


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    origin: rendering.Origin | None  # None: the header or a blank line
    values: list[str]  # "$.network.vpc_cidr specs/_common.yaml:26:13"


def parse_target(target: str) -> tuple[str, int | None]:
    """PATH[:LINE] -> (PATH, LINE or None)."""
    path, _, line = target.rpartition(":")
    if path and line.isdigit():
        return path, int(line)
    return target, None


def explain(project: Project, path: str, line: int | None) -> tuple[str, list[Line], bool]:
    """(the file as the tree names it, its explained lines (the one asked for, else all), whether
    the file on disk differs from the fresh render)."""
    key = _tree_key(project, path)
    specs = load_valid_specs(project.specs, environment_names(project.specs), project.out)
    contexts = {spec.name: build_context(spec) for spec in specs}
    with rendering.tracing() as origins:
        files = rendering.render(project.templates, list(contexts.values()))
    if key not in files:
        raise UsageError(f"{path}: not a file tfgen generates (from {display_path(project.specs)} and "
                         f"{display_path(project.templates)})")
    lines = files[key].split("\n")[:-1]
    if line is not None and not 1 <= line <= len(lines):
        raise UsageError(f"{path}:{line}: the file has {len(lines)} lines")
    env = _environment(key)
    spec = next((s for s in specs if s.name == env), None)
    variables = {v.name: v.spec_path for v in contexts[env].variables} if env else {}
    paths = _tfvars_paths(lines) if key.endswith(".tfvars") else None
    explained = []
    for number, text in enumerate(lines, 1):
        if line is not None and number != line:
            continue
        found: list[tuple[str, ...]] = []
        if spec is not None and paths is not None:
            found = [paths[number - 1]] if paths[number - 1] else []
        elif spec is not None:
            found = [(name, *(a or b or c for a, b, c in _STEP.findall(rest))) for name, rest in
                     _REFERENCE.findall(text.split("#")[0])]
        values = [_spec_value(spec, variables, steps) for steps in found] if spec is not None else []
        explained.append(Line(number, text, origins[key][number - 1], [v for v in values if v]))
    disk = project.out / key
    stale = disk.is_file() and disk.read_text("utf-8", errors="replace") != files[key]
    return key, explained, stale


def _tree_key(project: Project, path: str) -> str:
    """The path as the tree names it (infrastructure/...), from a path relative to the working
    directory or to the output root."""
    for candidate in (Path(path), project.out / path):
        try:
            key = candidate.resolve().relative_to(project.out.resolve()).as_posix()
        except ValueError:
            continue
        if key.startswith(f"{ROOT}/"):
            return key
    raise UsageError(f"{path}: not inside the generated tree {display_path(project.out / ROOT)}")


def _environment(key: str) -> str | None:
    parts = key.split("/")
    return parts[2] if len(parts) > 3 and parts[1] == "environments" else None


def _spec_value(spec: Spec, variables: dict[str, tuple[str, ...] | None], steps: tuple[str, ...]) -> str | None:
    """`$.path file:line:col` of the spec value a root variable reference reads; a value the
    spec does not set names the schema's default; a variable from no spec value, nothing."""
    if steps[0] not in variables or variables[steps[0]] is None:
        return None
    path = (*variables[steps[0]], *(int(s) if s.isdigit() else s for s in steps[1:]))
    where = spec.value_locations.get(path)
    return f"{format_path(path)} {where}" if where else f"{format_path(path)} (not in the spec: the default)"


def _tfvars_paths(lines: list[str]) -> list[tuple[str, ...] | None]:
    """Each terraform.tfvars line's place (variable, key, index...): read from the nesting of
    the formatted file, one assignment or list element per line."""
    out: list[tuple[str, ...] | None] = []
    stack: list[list[str]] = []  # [key] for a map or object, [key, next index] for a list
    for text in lines:
        line = text.split("#")[0].strip()
        here = tuple(entry[0] for entry in stack)
        match = _ASSIGNMENT.match(line)
        if match:
            key, rest = match.groups()
            out.append((*here, key))
            if rest.endswith("{"):
                stack.append([key])
            elif rest.endswith("["):
                stack.append([key, "0"])
        elif line in ("{", "[") and stack and len(stack[-1]) == 2:
            index = stack[-1][1]
            stack[-1][1] = str(int(index) + 1)
            out.append((*here, index))
            stack.append([index] if line == "{" else [index, "0"])
        elif line.startswith(("}", "]")) and stack:
            stack.pop()
            out.append(None)
        elif line and stack and len(stack[-1]) == 2:  # a one-line list element
            index = stack[-1][1]
            stack[-1][1] = str(int(index) + 1)
            out.append((*here, index))
        else:
            out.append(None)
    return out
