"""Warnings across environments: what one environment should not share with another.

A new environment usually starts as a copy of another one's spec. What it keeps of the other's
deploy branch or CORS origins makes the two deploy on the same push, or lets one's site into the
other's bucket. Each spec is valid on its own, so these are warnings, not errors: one per shared
value, at the newer environment (valid.newness). (A shared host name is an error: two
environments would manage one DNS record; validate.topology_problems refuses it.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def shared_values(specs: list[Spec], newer: Callable[[Spec], Any] | None = None) -> list[SpecProblem]:
    """Each value an environment shares with one before it (by `newer`, a sort key; default: the
    name), reported at the newer one: the copy, where the user has to change it."""
    key = newer or (lambda spec: spec.name)
    holders: dict[tuple[str, str], list[tuple[Spec, JsonPath]]] = {}
    fields: dict[tuple[str, str], str] = {}
    for spec in sorted(specs, key=lambda s: s.name):
        for path, does, value, field in _identities(spec):
            holders.setdefault((does, value), []).append((spec, path))
            fields[(does, value)] = field
    found: list[SpecProblem] = []
    for (does, value), users in holders.items():
        if len(users) < 2:
            continue
        (other, other_path), *later = sorted(users, key=lambda user: key(user[0]))
        for spec, path in later:
            if spec is other:
                continue  # a list naming a value twice is the schema's concern, not a copy's
            found.append(spec.problem(path, f"warning: {spec.name} {does} {value}, as {other.name} does "
                                            f"({other.location(other_path)}); give {spec.name} its own "
                                            f"{fields[(does, value)]}"))
    return sorted(found, key=SpecProblem.order)
