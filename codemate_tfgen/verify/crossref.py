"""Verify: parse every generated .tf and .tfvars back and cross-reference the tree.

Runs on the in-memory tree before anything is written. Each finding is a value (errors.Finding)
with the file and line it is about; python-hcl2 gives no positions, so lines are found in the
file's text.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from codemate_tfgen import cache, hcl
from codemate_tfgen.errors import Finding, VerificationError
from codemate_tfgen.verify import hcltypes

META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
_REFERENCE = re.compile(
    r"(?<![\w.])(?:(var|local)\.([A-Za-z_][\w-]*)|module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)"
    r"|(data\.)?((?:aws|random|tls)_\w+)\.([A-Za-z_][\w-]*))"
)


@dataclass
class TerraformModule:
    """What one directory of .tf files declares and what its expressions reference."""

    directory: str
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    locals: dict[str, str] = field(default_factory=dict)  # name -> the file declaring it
    resources: set[str] = field(default_factory=set)
    calls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # name -> (file, body)
    references: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # file, block, ref
    tfvars: dict[str, set[str]] = field(default_factory=dict)
    parsed: dict[str, dict[str, Any]] = field(default_factory=dict)  # .tf path -> python-hcl2 output
    duplicates: list[Finding] = field(default_factory=list)


def _name(key: str) -> str:
    return key[1:-1] if key.startswith('"') and key.endswith('"') else key


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _references(value: Any) -> Iterator[tuple[str, ...]]:
    for text in _strings(value):
        code = hcl.code_segments(text)
        for match in _REFERENCE.finditer(code):
            kind, name, module, output, data, rtype, rname = match.groups()
            if kind:
                yield (kind, name)
            elif module:
                yield ("module", module, output)
            elif rtype and not code[: match.start()].endswith("each."):
                yield ("data" if data else "resource", f"{rtype}.{rname}")


def _blocks(parsed: dict[str, Any], kind: str) -> Iterator[tuple[str, Any]]:
    for entry in parsed.get(kind, []):
        for label, body in entry.items():
            yield _name(label), body


def line_of(text: str, pattern: str | re.Pattern[str], after: int = 1) -> int:
    """The first line at or after `after` that matches `pattern`, else `after`: python-hcl2
    gives no positions, so a finding's line is found in the text."""
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    for number, line in enumerate(text.split("\n")[after - 1:], after):
        if compiled.search(line):
            return number
    return after


def lines_of(text: str, pattern: re.Pattern[str]) -> list[int]:
    return [number for number, line in enumerate(text.split("\n"), 1) if pattern.search(line)]


def _header(kind: str, *labels: str) -> re.Pattern[str]:
    """The first line of a block: `kind "label" ...`."""
    return re.compile(rf"^\s*{kind}" + "".join(rf'\s+"{re.escape(label)}"' for label in labels))


def _twice(module: TerraformModule, path: str, text: str, kind: str, name: str, what: str) -> None:
    line = (lines_of(text, _header(kind, name)) or [1])[-1]
    module.duplicates.append(Finding(path, line, f'{kind} "{name}" is {what} twice in {module.directory}'))


def _collect(path: str, text: str, parsed: dict[str, Any], module: TerraformModule) -> None:
    module.parsed[path] = parsed
    for name, body in _blocks(parsed, "variable"):
        if name in module.variables:
            _twice(module, path, text, "variable", name, "declared")
        module.variables[name] = body
    for name, body in _blocks(parsed, "output"):
        if name in module.outputs:
            _twice(module, path, text, "output", name, "declared")
        module.outputs.add(name)
        module.references.extend((path, f'output "{name}"', ref) for ref in _references(body))
    for entry in parsed.get("locals", []):
        for name, value in entry.items():
            if name.startswith("__"):
                continue
            module.locals[name] = path
            module.references.extend((path, f"locals.{name}", ref) for ref in _references(value))
    for name, body in _blocks(parsed, "module"):
        if name in module.calls:
            _twice(module, path, text, "module", name, "called")
        module.calls[name] = (path, body)
        module.references.extend((path, f'module "{name}"', ref) for ref in _references(body))
    for kind in ("resource", "data"):
        for rtype, named in _blocks(parsed, kind):
            for rname, body in named.items():
                rname = _name(rname)
                address = f"{rtype}.{rname}" if kind == "resource" else f"data.{rtype}.{rname}"
                module.resources.add(address)
                module.references.extend((path, f"{kind} {address}", ref) for ref in _references(body))
    for name, body in _blocks(parsed, "provider"):
        module.references.extend((path, f'provider "{name}"', ref) for ref in _references(body))


def parse(files: dict[str, str]) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """Parse every .tf and .tfvars once: {path: python-hcl2 data}, and a finding per file that fails.

    Callers that need the parsed files (the cross-references here, tfschema) share this result.
    """
    paths = [path for path in files if path.endswith((".tf", ".tfvars"))]
    results = hcl.parse_all([files[path] for path in paths], hcl.parse_cache())
    parsed: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    for path in paths:
        result = results[files[path]]
        if isinstance(result, hcl.ParseFailure):
            line = re.search(r"\bline (\d+)", result)  # where Lark stopped, when it says
            findings.append(Finding(path, int(line.group(1)) if line else 1,
                                    f"does not parse as HCL: {' '.join(result.split())[:300]}"))
        else:
            parsed[path] = result
    return parsed, findings


def parse_modules(files: dict[str, str]) -> tuple[dict[str, TerraformModule], list[Finding]]:
    modules: dict[str, TerraformModule] = {}
    parsed_files, findings = parse(files)
    for path in files:
        if not path.endswith((".tf", ".tfvars")):
            continue
        directory = posixpath.dirname(path)
        module = modules.setdefault(directory, TerraformModule(directory))
        if path not in parsed_files:
            continue
        parsed = parsed_files[path]
        if path.endswith(".tfvars"):
            module.tfvars[path] = {k for k in parsed if not k.startswith("__")}
        else:
            _collect(path, files[path], parsed, module)
    return modules, findings


def _reference_text(ref: tuple[str, ...]) -> str:
    kind = ref[0]
    if kind in ("var", "local"):
        return f"{kind}.{ref[1]}"
    if kind == "module":
        return f"module.{ref[1]}.{ref[2]}"
    return ref[1] if kind == "resource" else f"data.{ref[1]}"


def _at_uses(files: dict[str, str], path: str, text: str, message: str, undeclared: str | None = None
             ) -> Iterator[Finding]:
    """A finding at each line of `path` that writes the reference `text` (one per place, so that
    each is traced to the template line that wrote it)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(text)}(?![\w-])")
    for line in lines_of(files[path], pattern) or [1]:
        yield Finding(path, line, message, undeclared=undeclared)


def cross_reference(modules: dict[str, TerraformModule], files: dict[str, str]) -> Iterator[Finding]:
    for module in modules.values():
        yield from module.duplicates
        for path, block, ref in module.references:
            kind, text = ref[0], _reference_text(ref)
            if kind == "var" and ref[1] not in module.variables:
                yield from _at_uses(files, path, text, f"{block}: {text} is not declared", undeclared=ref[1])
            elif kind == "local" and ref[1] not in module.locals:
                yield from _at_uses(files, path, text, f"{block}: {text} is not declared")
            elif kind == "module":
                target = _called(modules, module, ref[1])
                if ref[1] not in module.calls:
                    yield from _at_uses(files, path, text,
                                        f"{block}: module.{ref[1]} is not a module call of {module.directory}")
                elif target is not None and ref[2] not in target.outputs:
                    yield from _at_uses(files, path, text, f"{block}: {text} is not an output of {target.directory}")
            elif kind in ("resource", "data") and text not in module.resources:
                yield from _at_uses(files, path, text, f"{block}: {text} is not declared in {module.directory}")
        for name, (path, body) in module.calls.items():
            target = _called(modules, module, name)
            start = line_of(files[path], _header("module", name))
            if target is None:
                yield Finding(path, start, f'module "{name}": source {_source(body)!r} is not a module of the '
                                           "generated tree")
                continue
            passed = {key for key in body if not key.startswith("__")} - META_ARGUMENTS
            for argument in sorted(passed - set(target.variables)):
                yield Finding(path, line_of(files[path], rf"^\s*{re.escape(argument)}\s*=", start),
                              f'module "{name}": {argument} is not a variable of {target.directory}')
            required = {n for n, v in target.variables.items() if "default" not in v}
            for argument in sorted(required - passed):
                yield Finding(path, start, f'module "{name}": required variable {argument} is not set')
        for path, keys in module.tfvars.items():
            for key in sorted(keys - set(module.variables)):
                yield Finding(path, line_of(files[path], rf"^{re.escape(key)}\s*="),
                              f"{key} is not a variable of {module.directory}")
            required = {n for n, v in module.variables.items() if "default" not in v}
            for key in sorted(required - keys):
                yield Finding(path, 1, f"required variable {key} has no value")


def variable_findings(modules: dict[str, TerraformModule], files: dict[str, str]) -> Iterator[Finding]:
    """Each module's variables against their uses: a reference to an attribute the declared type
    lacks, a variable nothing reads, an attribute of a variable's type that nothing reads (a spec
    value that reaches the tree without an effect), and locals nothing reads."""
    for module in modules.values():
        found: dict[str, list[tuple[str, hcltypes.Use]]] = {}
        for path, parsed in module.parsed.items():
            for kind, entries in parsed.items():
                if kind == "variable" or kind.startswith("__"):
                    continue  # a variable's own validation does not use it
                for use in _uses(entries, []):
                    found.setdefault(use.variable, []).append((path, use))
        for name, body in module.variables.items():
            declared = _declared_type(body)
            uses = found.get(name, [])
            where = next((path for path in module.parsed if _header("variable", name).search(files[path])),
                         f"{module.directory}/variables.tf")
            line = line_of(files.get(where, ""), _header("variable", name))
            if not uses:
                yield Finding(where, line, f"variable {name!r} is declared but nothing uses it")
                continue
            for path, use in uses:
                reason = hcltypes.undeclared_step(declared, use.path)
                if reason:
                    yield from _at_uses(files, path, use.text, f"{use.text}: {reason}")
            for attribute in hcltypes.unused_attributes(declared, [use.path for _, use in uses]):
                yield Finding(where, line, f"var.{name}: attribute {attribute} of its type is never used; use it "
                                           "or leave it out of the type")
        used_locals = {ref[1] for _, _, ref in module.references if ref[0] == "local"}
        for name in sorted(set(module.locals) - used_locals):
            path = module.locals[name]
            yield Finding(path, line_of(files[path], rf"^\s*{re.escape(name)}\s*="),
                          f"local.{name} is declared but nothing uses it")


def _declared_type(body: dict[str, Any]) -> hcltypes.Type:
    text = body.get("type")
    return hcltypes.parse_type(text) if isinstance(text, str) else hcltypes.ANY


_WHOLE_VAR = re.compile(r"^\$\{var\.([A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*|\[[^\[\]]*\])*)\}$")


def _uses(value: Any, aliases: list[tuple[str, str, tuple[str, ...]]], label: str | None = None
          ) -> Iterator[hcltypes.Use]:
    """Variable uses in parsed HCL. A block whose for_each is a variable (`for_each = var.x`)
    uses its elements through each.value (a dynamic block: <label>.value), not all of it."""
    if isinstance(value, str):
        code = hcl.code_segments(value)
        yield from hcltypes.uses(code)
        for alias, variable, base in aliases:
            yield from hcltypes.element_uses(code, alias, variable, base)
    elif isinstance(value, list):
        for item in value:
            yield from _uses(item, aliases, label)
    elif isinstance(value, dict):
        whole = _WHOLE_VAR.match(value["for_each"]) if isinstance(value.get("for_each"), str) else None
        inner = aliases
        if whole:
            alias = f"{label}.value" if label else "each.value"
            inner = aliases + [(alias, whole.group(1), tuple(hcltypes.steps(whole.group(2))))]
        for key, item in value.items():
            if key.startswith("__") or (whole and key == "for_each"):
                continue
            if key == "dynamic":
                for entry in item:
                    for name, block in entry.items():
                        yield from _uses(block, inner, _name(name))
                continue
            yield from _uses(key, inner)  # object keys can be expressions too
            yield from _uses(item, inner, None)


def _source(body: dict[str, Any]) -> str:
    source = body.get("source", "")
    return hcl.unquote(source) if isinstance(source, str) and source.startswith('"') else str(source)


def _called(modules: dict[str, TerraformModule], caller: TerraformModule, name: str) -> TerraformModule | None:
    if name not in caller.calls:
        return None
    source = _source(caller.calls[name][1])
    if not source.startswith(("./", "../")):
        return None
    return modules.get(posixpath.normpath(posixpath.join(caller.directory, source)))


def provider_schema_findings(modules: dict[str, TerraformModule], files: dict[str, str]) -> Iterator[Finding]:
    """Every resource and data block against the hashicorp/aws schema."""
    from codemate_tfgen.verify import tfschema

    for module in modules.values():
        yield from tfschema.check_module(module.parsed, {path: files[path] for path in module.parsed})


def verify(files: dict[str, str], context_findings: list[Finding] | None = None) -> None:
    """Raise VerificationError with every finding (the tree's and `context_findings`, spec values
    the context found nothing renders); return quietly when the tree is consistent.

    A tree that verified before (the same paths and texts, verified by the same tfgen, python-hcl2
    and provider schema) is not verified again: `tfgen check` on an unchanged tree is the common
    case. Only clean verdicts are remembered, so findings are always computed fresh.
    """
    folder = cache.directory("verified", cache.fingerprint("codemate_tfgen"), cache.fingerprint("hcl2"),
                             cache.fingerprint("lark"))
    verdict = _tree_key(files)
    if not context_findings and cache.get_json(folder, verdict) is True:
        return
    modules, findings = parse_modules(files)
    findings.extend(context_findings or [])
    findings.extend(cross_reference(modules, files))
    findings.extend(variable_findings(modules, files))
    findings.extend(provider_schema_findings(modules, files))
    if findings:
        raise VerificationError(sorted(set(findings)))
    cache.put_json(folder, verdict, True)


def _tree_key(files: dict[str, str]) -> str:
    """The hash of everything verification is given: every path and text (not only .tf and
    .tfvars, so that a check added later for other files is never skipped by an old verdict)."""
    parts = (f"{len(path)}:{path}{len(text)}:{text}" for path, text in sorted(files.items()))
    return cache.key("".join(parts))
