"""Validate: the JSON Schema first, then the rules a schema cannot express.

Every problem names the spec file, line, column and JSON path; all problems of a run are
collected and raised together as one SpecError.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from codemate_tfgen.errors import SpecError, SpecProblem
from codemate_tfgen.spec import JsonPath, Spec, format_path


@cache
def spec_schema() -> dict[str, Any]:
    return json.loads(resources.files("codemate_tfgen").joinpath("spec.schema.json").read_text("utf-8"))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(spec_schema())


def validate(spec: Spec) -> None:
    """Raise SpecError listing every problem of the spec; return quietly when it is valid."""
    problems = list(_schema_problems(spec))
    if not problems:
        # Semantic rules assume the shapes the schema guarantees.
        for rule in RULES:
            problems.extend(rule(spec))
    problems.extend(_secret_problems(spec))
    if problems:
        raise SpecError(_unique(problems))


def _unique(problems: list[SpecProblem]) -> list[SpecProblem]:
    seen: dict[tuple, SpecProblem] = {}
    for problem in problems:
        seen.setdefault((problem.location, problem.path, problem.message), problem)
    return list(seen.values())


# --- schema ---------------------------------------------------------------------------------


def _schema_problems(spec: Spec) -> Iterator[SpecProblem]:
    for error in _validator().iter_errors(spec.data):
        if error.validator in ("anyOf", "oneOf") and error.context:
            error = jsonschema.exceptions.best_match(error.context)
        path: JsonPath = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed)):
                yield spec.problem(path + (key,), _unknown_key_message(key, allowed), key=True)
        elif error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            yield spec.problem(path, f"missing required key {missing!r}", key=True)
        elif error.validator == "enum":
            choices = ", ".join(json.dumps(v) for v in error.validator_value)
            yield spec.problem(path, f"{json.dumps(error.instance)} is not one of: {choices}")
        elif error.validator == "pattern":
            yield spec.problem(path, f"{json.dumps(error.instance)} does not match {error.validator_value}")
        else:
            yield spec.problem(path, _short(error.message))


def _unknown_key_message(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return f"unknown key {key!r}{hint}"


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= 200 else message[:197] + "..."


# --- semantic rules -------------------------------------------------------------------------

Rule = Callable[[Spec], Iterator[SpecProblem]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


SUBNET_TIERS = ("public_subnets", "private_app_subnets", "private_db_subnets")


@rule
def network_addresses(spec: Spec) -> Iterator[SpecProblem]:
    network = spec.data["network"]
    vpc = _network(spec, ("network", "vpc_cidr"), network["vpc_cidr"])
    if isinstance(vpc, SpecProblem):
        yield vpc
        return
    if not 16 <= vpc.prefixlen <= 28:
        yield spec.problem(("network", "vpc_cidr"), "VPC CIDR prefix must be between /16 and /28")
    zones = network["availability_zones"]
    for zone in zones:
        if not zone.startswith(spec.data["region"]):
            path = ("network", "availability_zones", zones.index(zone))
            yield spec.problem(path, f"{zone} is not in region {spec.data['region']}")
    seen: list[tuple[ipaddress.IPv4Network, JsonPath]] = []
    for tier in SUBNET_TIERS:
        cidrs = network[tier]
        if len(cidrs) != len(zones):
            yield spec.problem(("network", tier),
                               f"needs one subnet per availability zone: {len(cidrs)} subnets for "
                               f"{len(zones)} zones")
        for index, text in enumerate(cidrs):
            path = ("network", tier, index)
            subnet = _network(spec, path, text)
            if isinstance(subnet, SpecProblem):
                yield subnet
                continue
            if not subnet.subnet_of(vpc):
                yield spec.problem(path, f"{subnet} is not inside the VPC CIDR {vpc}")
            if subnet.prefixlen > 28:
                yield spec.problem(path, "AWS subnets must be /28 or larger")
            for other, other_path in seen:
                if subnet.overlaps(other):
                    yield spec.problem(path, f"{subnet} overlaps {other} at {format_path(other_path)}")
            seen.append((subnet, path))


@rule
def nat_settings(spec: Spec) -> Iterator[SpecProblem]:
    nat = spec.data["network"]["nat"]
    if nat["mode"] == "instance" and "instance_type" not in nat:
        yield spec.problem(("network", "nat"), "mode: instance needs instance_type", key=True)
    if nat["mode"] == "gateway" and "instance_type" in nat:
        yield spec.problem(("network", "nat", "instance_type"), "only used with mode: instance", key=True)


@rule
def backend_locking(spec: Spec) -> Iterator[SpecProblem]:
    backend = spec.data["backend"]
    if backend["locking"] == "dynamodb" and "dynamodb_table" not in backend:
        yield spec.problem(("backend",), "locking: dynamodb needs dynamodb_table", key=True)
    if backend["locking"] == "s3_lockfile" and "dynamodb_table" in backend:
        yield spec.problem(("backend", "dynamodb_table"), "not used with locking: s3_lockfile", key=True)


def _network(spec: Spec, path: JsonPath, text: str) -> ipaddress.IPv4Network | SpecProblem:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as exc:
        return spec.problem(path, f"{text} is not a valid IPv4 network: {exc}")


# --- secrets --------------------------------------------------------------------------------

# Shapes of real credentials. A spec names secrets (Secrets Manager names); it never holds one.
_SECRET_SHAPES = [
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    (re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"), "an AWS secret access key"),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{16,}"), "an Anthropic API key"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{32,}"), "an API secret key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
]
_SECRET_KEYS = re.compile(r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential)s?$", re.I)


def _mixed(text: str) -> bool:
    """Random key material mixes cases and digits; words and names of 40 letters do not."""
    if len(text) != 40:
        return True
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(
        c.isdigit() for c in text)


def _strings(data: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, str, Any]]:
    if isinstance(data, dict):
        for key, item in data.items():
            yield path + (key,), key, item
            yield from _strings(item, path + (key,))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _strings(item, path + (index,))


def _secret_problems(spec: Spec) -> Iterator[SpecProblem]:
    for path, key, item in _strings(spec.data):
        if isinstance(item, str | int | float) and not isinstance(item, bool) and _SECRET_KEYS.search(key):
            yield spec.problem(path, "looks like a credential; a spec holds no secrets: store it in "
                                     "Secrets Manager and reference the secret by name")
            continue
        if not isinstance(item, str):
            continue
        for pattern, what in _SECRET_SHAPES:
            if any(_mixed(match.group()) for match in pattern.finditer(item)):
                yield spec.problem(path, f"looks like {what}; a spec holds no secrets: store it in "
                                         "Secrets Manager and reference the secret by name")
                break
