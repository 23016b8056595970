"""Warnings across environments: what one environment should not share with another.

A new environment usually starts as a copy of another one's spec. What it keeps of the other's
deploy branch or CORS origins makes the two deploy on the same push, or lets one's site into the
other's bucket. Each spec is valid on its own, so these are warnings, not errors: one per shared
value, at the environment whose name sorts later. (A shared host name is an error: two
environments would manage one DNS record; validate.topology_problems refuses it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from codemate_tfgen.errors import SpecProblem
from codemate_tfgen.spec.load import JsonPath, Spec


def _identities(spec: Spec) -> Iterator[tuple[JsonPath, str, str, str]]:
    """(path, what the environment does with it, the value, the field to change)."""
    data: dict[str, Any] = spec.data
    cicd = data["cicd"]
    yield ("cicd", "branch"), "deploys branch", f"{cicd['branch']} of {cicd['repository']}", "cicd.branch"
    for index, origin in enumerate(data["storage"].get("cors_allowed_origins", [])):
        yield (("storage", "cors_allowed_origins", index), "allows the CORS origin", origin,
               "storage.cors_allowed_origins")


def shared_values(specs: list[Spec]) -> list[SpecProblem]:
    first: dict[tuple[str, str], tuple[Spec, JsonPath]] = {}
    found: list[SpecProblem] = []
    for spec in sorted(specs, key=lambda s: s.name):
        for path, does, value, field in _identities(spec):
            other, other_path = first.setdefault((does, value), (spec, path))
            if other is not spec:
                found.append(spec.problem(path, f"warning: {spec.name} {does} {value}, as {other.name} does "
                                                f"({other.location(other_path)}); give {spec.name} its own {field}"))
    return sorted(found, key=SpecProblem.order)
