"""The spec's JSON Schema (codemate_tfgen/spec.schema.json), the one notation of every spec shape,
and what is read from it: defaults as the templates see them, `$ref` resolution, and the numbers
it fixes that other steps use."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def spec_schema() -> dict[str, Any]:
    return json.loads(resources.files("codemate_tfgen").joinpath("spec.schema.json").read_text("utf-8"))


def with_defaults(data: Any, node: dict[str, Any] | None = None) -> Any:
    """`data` with the schema's defaults filled in where a value is absent, as the templates
    see it through Terraform's optional() defaults (the spec files themselves are not changed)."""
    node = resolve(spec_schema() if node is None else node)
    if isinstance(data, list) and "items" in node:
        return [with_defaults(item, node["items"]) for item in data]
    if not isinstance(data, dict):
        return data
    if isinstance(node.get("additionalProperties"), dict) and "properties" not in node:
        return {key: with_defaults(item, node["additionalProperties"]) for key, item in data.items()}
    out = dict(data)
    for key, sub in node.get("properties", {}).items():
        sub = resolve(sub)
        if key in out:
            out[key] = with_defaults(out[key], sub)
        elif "default" in sub:
            out[key] = with_defaults(copy.deepcopy(sub["default"]), sub)
    return out


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """The node a `$ref` names, with the referring node's own keywords (its description) on top,
    as draft 2020-12 applies keywords beside a `$ref`."""
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported: {ref}")
        target = spec_schema()
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{key: item for key, item in node.items() if key != "$ref"}}
    return node


def catch_all_priority() -> int:
    """The listener rule priority kept for a blue/green default service's catch-all rule: the
    highest the schema admits, so every rule a spec writes comes before it."""
    return spec_schema()["$defs"]["listener_rule"]["properties"]["priority"]["maximum"]
