"""Terraform shapes derived from the spec's JSON Schema: the one source of every spec shape.

A root variable that carries a spec section, and a module input bound to a spec section, get
their HCL type, description, default and validations from `spec.schema.json`; nobody writes
them a second time. A property the schema adds reaches both without another edit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codemate_tfgen import hcl
from codemate_tfgen.spec.schema import resolve, spec_schema

Schema = dict[str, Any]


class ShapeError(Exception):
    """A schema construct that has no Terraform type (a bug in a binding, not in a spec)."""


def pointer(ref: str) -> Schema:
    """The schema node at a JSON pointer such as `#/properties/database` or `#/$defs/service`."""
    return resolve({"$ref": ref})


def _is_map(node: Schema) -> bool:
    return node.get("type") == "object" and "properties" not in node and isinstance(
        node.get("additionalProperties"), dict)


# A property the schema marks with this keyword is read by someone other than the templates
# (its value names who: "tfgen cost", "the spec rules"): it reaches no Terraform type or value,
# and the context does not expect to render it.
READ_BY = "x-tfgen-read-by"


def properties(node: Schema, omit: Iterable[str] = ()) -> dict[str, Schema]:
    """An object's properties in schema order, without the omitted ones and without those that
    something other than the templates reads (READ_BY)."""
    node = resolve(node)
    if node.get("type") != "object" or "properties" not in node:
        raise ShapeError(f"not an object with properties: {node.get('description', node)}")
    skipped = set(omit)
    unknown = skipped - set(node["properties"])
    if unknown:
        raise ShapeError(f"omitted properties that do not exist: {', '.join(sorted(unknown))}")
    return {name: resolve(sub) for name, sub in node["properties"].items()
            if name not in skipped and READ_BY not in sub}


def read_elsewhere(data: Any, node: Schema | None = None, path: tuple = ()) -> Iterable[tuple]:
    """The paths of `data` (a spec) whose schema property is marked READ_BY."""
    node = resolve(node if node is not None else spec_schema())
    if READ_BY in node:
        yield path
        return
    if not isinstance(data, dict):
        return
    if _is_map(node):
        for key, item in data.items():
            yield from read_elsewhere(item, node["additionalProperties"], path + (key,))
    elif "properties" in node:
        for key, item in data.items():
            if key in node["properties"]:
                yield from read_elsewhere(item, node["properties"][key], path + (key,))


def element(node: Schema) -> Schema:
    """What a map or list node holds."""
    node = resolve(node)
    if _is_map(node):
        return resolve(node["additionalProperties"])
    if node.get("type") == "array":
        return resolve(node["items"])
    raise ShapeError("not a map or a list")


def hcl_type(node: Schema, omit: Iterable[str] = ()) -> str:
    """The HCL type of a schema node. `omit` drops properties of an object, or of the objects a
    map holds; required properties are plain, the others optional (with the schema's default)."""
    node = resolve(node)
    if "enum" in node:
        kinds = {type(value) for value in node["enum"]}
        if kinds <= {str}:
            return "string"
        if kinds <= {int, float}:
            return "number"
        raise ShapeError(f"an enum of mixed types has no Terraform type: {node['enum']}")
    kind = node.get("type")
    if kind == "string":
        return "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        return f"list({hcl_type(node['items'])})"
    if kind == "object" and _is_map(node):
        return f"map({hcl_type(node['additionalProperties'], omit)})"
    if kind == "object":
        required = set(node.get("required", []))
        fields = []
        for name, sub in properties(node, omit).items():
            inner = hcl_type(sub)
            if name not in required:
                inner = f"optional({inner}, {hcl.value(sub['default'])})" if "default" in sub else f"optional({inner})"
            fields.append(f"{hcl.key_name(name)} = {inner}")
        return "object({\n" + "\n".join(fields) + "\n})"
    raise ShapeError(f"no Terraform type for {json.dumps(node)[:120]}")


def value(node: Schema, data: Any, omit: Iterable[str] = ()) -> Any:
    """`data` as a variable of hcl_type(node, omit) receives it: the omitted properties left out,
    an object's properties in schema order (so a spec's key order never shows in the output)."""
    node = resolve(node)
    if not isinstance(data, dict):
        return data
    if _is_map(node):
        return {key: value(node["additionalProperties"], item, omit) for key, item in data.items()}
    if "properties" not in node:
        return data
    return {name: value(sub, data[name]) for name, sub in properties(node, omit).items() if name in data}


# --- module inputs bound to a spec section --------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """Module inputs that are the properties of one spec section (module.yaml `spec:`)."""

    schema: str  # JSON pointer, e.g. "#/properties/database"
    omit: tuple[str, ...] = ()

    def inputs(self) -> dict[str, Schema]:
        return properties(pointer(self.schema), self.omit)

    def required(self) -> set[str]:
        return set(resolve(pointer(self.schema)).get("required", []))


def variable_blocks(binding: Binding) -> str:
    """The `variable` blocks of a binding's inputs, with the schema's descriptions, types,
    defaults and (where the schema constrains a scalar or a list of scalars) validations."""
    blocks = []
    required = binding.required()
    for name, node in binding.inputs().items():
        lines = [f'variable "{name}" {{', f"description = {hcl.quote(node.get('description', name))}",
                 f"type = {hcl_type(node)}"]
        optional = name not in required
        # An empty collection's default is not nullable: a caller's null must not reach a for_each.
        nullable = optional and node.get("default") not in ([], {})
        if optional:
            lines.append(f"default = {hcl.value(node.get('default'))}")
            if not nullable:
                lines.append("nullable = false")
        for condition, message in _validations(name, node, nullable):
            lines += ["", "validation {", f"condition = {condition}", f"error_message = {hcl.quote(message)}", "}"]
        lines.append("}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def arguments(binding: Binding, source: str) -> str:
    """A module call's arguments for a binding: `name = <source>.name` for each input."""
    return "\n".join(f"{name} = {source}.{name}" for name in binding.inputs())


def _validations(name: str, node: Schema, nullable: bool) -> list[tuple[str, str]]:
    ref = f"var.{name}"
    found = [(condition, message) for condition, message in _scalar_checks(node, ref)]
    if node.get("type") == "array":
        item = resolve(node["items"])
        for condition, message in _scalar_checks(item, "item"):
            found.append((f"alltrue([for item in {ref} : {condition}])", f"each of {name}: {message}"))
        if "minItems" in node:
            found.append((f"length({ref}) >= {node['minItems']}", f"at least {node['minItems']} item(s)"))
        if "maxItems" in node:
            found.append((f"length({ref}) <= {node['maxItems']}", f"at most {node['maxItems']} item(s)"))
    if nullable:
        # try(): Terraform before 1.12 evaluates both sides of ||, and the checks fail on null.
        found = [(f"{ref} == null || try({condition}, false)", message) for condition, message in found]
    return [(condition, f"{name} must be {message}." if not message.startswith("each of") else
             f"{message}.") for condition, message in found]


def _scalar_checks(node: Schema, ref: str) -> Iterable[tuple[str, str]]:
    if "enum" in node:
        choices = ", ".join(hcl.value(v) for v in node["enum"])
        yield f"contains([{choices}], {ref})", f"one of {choices}"
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum")
    if low is not None or high is not None:
        parts = []
        if low is not None:
            parts.append(f"{ref} {'>' if 'exclusiveMinimum' in node else '>='} {hcl.value(low)}")
        if high is not None:
            parts.append(f"{ref} <= {hcl.value(high)}")
        words = {(True, True): f"between {low} and {high}", (True, False): f"at least {low}",
                 (False, True): f"at most {high}"}[(low is not None, high is not None)]
        if "exclusiveMinimum" in node:
            words = f"more than {low}" + (f" and at most {high}" if high is not None else "")
        yield " && ".join(parts), words
    if "pattern" in node:
        yield f"can(regex({hcl.quote(node['pattern'])}, {ref}))", f"a match of {node['pattern']}"
