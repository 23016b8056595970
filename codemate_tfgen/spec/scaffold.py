"""`tfgen new`: a new environment's spec, copied from another one's, with what must differ marked.

A copy keeps the other environment's host, deploy branch, CORS origins and budget; the first two
are refused or warned about across environments (validate.topology_problems, crosscheck), the
budget would let the copy's spending pass unnoticed under the other's limit. The new file keeps
the source file's text (its comments and `extends`) and replaces each such value with a
placeholder that validation refuses, naming what to set (validate.placeholder_problems).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from codemate_tfgen.errors import UsageError, ValueRefused
from codemate_tfgen.spec.load import ENV_NAME, JsonPath, display_path, environment_names, load_spec, suggestion
from codemate_tfgen.spec.validate import PLACEHOLDER


@dataclass(frozen=True)
class Marked:
    path: JsonPath
    text: str  # the placeholder, as YAML


def _marks(name: str, source: str, data: dict) -> list[Marked]:
    """The values a copy must not keep, with what to set in their place."""
    host = data["dns"]["hostname"]
    marks = [
        Marked(("dns", "hostname"), f'"{PLACEHOLDER} {name}\'s own host name ({source} has {host})"'),
        Marked(("cicd", "branch"), f'"{PLACEHOLDER} the branch {name} deploys ({source} deploys '
                                   f'{data["cicd"]["branch"]})"'),
        Marked(("budget", "monthly_limit_usd"), f'"{PLACEHOLDER} {name}\'s monthly budget in USD ({source} has '
                                                f'{data["budget"]["monthly_limit_usd"]}; see tfgen cost {name})"'),
    ]
    if data["storage"].get("cors_allowed_origins"):
        marks.append(Marked(("storage", "cors_allowed_origins"),
                            f'["{PLACEHOLDER} the origins of {name}\'s site ({source} allows '
                            f'{", ".join(data["storage"]["cors_allowed_origins"])})"]'))
    return marks


def _node(root: yaml.Node, path: JsonPath) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(the value node at `path`, the deepest mapping node on the way) in a composed document."""
    node, parent = root, None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None, parent
        parent = node
        node = next((value for k, value in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if node is None:
            return None, parent
    return node, parent


def _apply(text: str, marks: list[Marked]) -> str:
    """The source text with each marked value replaced (or, when the file inherits it, added
    under its section): edits from the end of the text backward, so earlier offsets hold."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    edits: list[tuple[int, int, str]] = []
    appended: list[str] = []
    for mark in marks:
        node, parent = _node(root, mark.path)
        if node is not None:
            edits.append((node.start_mark.index, node.end_mark.index, mark.text))
        elif parent is not None and parent is not root and parent.flow_style:
            edits.append((parent.end_mark.index - 1, parent.end_mark.index - 1, f", {mark.path[-1]}: {mark.text}"))
        elif parent is not None and parent is not root:
            # A block mapping holds the section: a line before its first key, in that key's column.
            first_key = parent.value[0][0].start_mark
            start = text.rfind("\n", 0, first_key.index) + 1
            edits.append((start, start, f"{' ' * first_key.column}{mark.path[-1]}: {mark.text}\n"))
        else:
            appended.append(f"{mark.path[0]}:\n  {mark.path[1]}: {mark.text}\n")
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text.rstrip("\n") + "\n" + "".join("\n" + section for section in appended)


def new_environment(specs_dir: Path, name: str, source: str) -> Path:
    """Write specs/<name>.yaml from specs/<source>.yaml with what must differ marked; the path
    written. UsageError for a name taken or not allowed, ValueRefused for a source that is no environment."""
    if not ENV_NAME.match(name):
        raise UsageError(f"{name!r}: not an environment name (lowercase letters, digits and '-', at most 16 "
                         "characters)")
    target = specs_dir / f"{name}.yaml"
    if target.exists():
        raise UsageError(f"{display_path(target)} exists already; choose another name, or edit that file")
    known = environment_names(specs_dir)
    if source not in known:
        raise ValueRefused(f"{source}: no environment {source!r} in {display_path(specs_dir)}"
                         + suggestion(source, known))
    spec = load_spec(specs_dir, source)  # a source that does not load is reported as itself
    text = (specs_dir / f"{source}.yaml").read_text("utf-8")
    header, _, body = text.partition("\n") if text.startswith("# yaml-language-server") else ("", "", text)
    note = (f'# Created by `tfgen new {name} --from {source}`: each "{PLACEHOLDER} ..." marks a value {name} must '
            f"not share with {source};\n# `tfgen validate {name}` lists those still to set.\n")
    written = (header + "\n" if header else "") + note + _apply(body, _marks(name, source, spec.data))
    with open(target, "x", encoding="utf-8") as handle:  # never over a file made meanwhile
        handle.write(written)
    return target
