"""Validate: the JSON Schema first, then the rules a schema cannot express.

Every problem names the spec file, line, column and JSON path; all problems of a run are
collected and raised together as one SpecError.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

from codemate_tfgen import cache as user_cache
from codemate_tfgen.errors import SpecError, SpecProblem
from codemate_tfgen.sections.monitoring import RDS_INSTANCE_MEMORY_GIB
from codemate_tfgen.spec import JsonPath, Spec, format_path


@cache
def spec_schema() -> dict[str, Any]:
    return json.loads(resources.files("codemate_tfgen").joinpath("spec.schema.json").read_text("utf-8"))


@cache
def _validator() -> Any:
    import jsonschema  # ~30 ms with the validator: only paid when the verdict below is not cached

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


def _schema_problems(spec: Spec) -> list[SpecProblem]:
    """Problems against the JSON Schema. Data that passed before (the same data, schema, tfgen and
    jsonschema; codemate_tfgen.cache) is not checked again; problems are always computed fresh."""
    folder = user_cache.directory("schema-valid", user_cache.fingerprint("codemate_tfgen"),
                                  user_cache.fingerprint("jsonschema"), user_cache.fingerprint("referencing"))
    try:
        verdict = user_cache.key(json.dumps(spec.data, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):  # not JSON data: the schema reports it
        folder = verdict = None
    if folder and user_cache.get_json(folder, verdict) is True:
        return []
    problems = list(_jsonschema_problems(spec))
    if not problems and verdict:
        user_cache.put_json(folder, verdict, True)
    return problems


def _jsonschema_problems(spec: Spec) -> Iterator[SpecProblem]:
    from jsonschema.exceptions import best_match

    for error in _validator().iter_errors(spec.data):
        if error.validator in ("anyOf", "oneOf") and error.context:
            error = best_match(error.context)
        path: JsonPath = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed)):
                yield spec.problem(path + (key,), _unknown_key_message(key, allowed), key=True)
        elif error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            if not _misspelled(error.instance, error.schema, missing):
                yield spec.problem(path, f"missing required key {missing!r}", key=True)
        elif error.validator == "enum":
            choices = ", ".join(json.dumps(v) for v in error.validator_value)
            yield spec.problem(path, f"{_as_typed(spec, path, error.instance)} is not one of: {choices}")
        elif error.validator == "pattern":
            yield spec.problem(path, f"{json.dumps(error.instance)} does not match {error.validator_value}")
        elif error.validator == "type" and not isinstance(error.instance, dict | list):
            yield spec.problem(path, _type_message(spec, path, error.instance, error.validator_value))
        else:
            yield spec.problem(path, _short(error.message))


def _closest(key: str, allowed: list[str]) -> str | None:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_key_message(key: str, allowed: list[str]) -> str:
    close = _closest(key, allowed)
    hint = f"; did you mean {close!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return f"unknown key {key!r}{hint}"


def _misspelled(instance: Any, schema: dict[str, Any], missing: str) -> bool:
    """A missing key that an unknown key beside it misspells: one mistake, reported once, where
    it was made (the unknown key's "did you mean")."""
    allowed = sorted(schema.get("properties", {}))
    return isinstance(instance, dict) and any(_closest(key, allowed) == missing for key in set(instance) - set(allowed))


def _as_typed(spec: Spec, path: JsonPath, value: Any) -> str:
    """A scalar as the user typed it: `no`, not false; a quoted string with its quotes."""
    typed = spec.typed(path)
    return typed if typed is not None else json.dumps(value, ensure_ascii=False)


def _type_message(spec: Spec, path: JsonPath, value: Any, wanted: str | list[str]) -> str:
    """A scalar of the wrong type, shown as typed, with the fix for what YAML made of it."""
    wanted = [wanted] if isinstance(wanted, str) else wanted
    typed = spec.typed(path)
    if typed == "":
        return f"has no value (YAML reads an empty value as null); wanted: {', '.join(map(repr, wanted))}"
    message = f"{_as_typed(spec, path, value)} is not of type {', '.join(map(repr, wanted))}"
    if typed is not None and "string" in wanted:
        if isinstance(value, bool):
            message += f": YAML 1.1 reads an unquoted {typed} as {json.dumps(value)}"
        return f"{message}; quote it: {json.dumps(typed)}"
    if isinstance(value, str) and "boolean" in wanted:
        return f"{message}; write true or false, without quotes"
    if isinstance(value, str) and {"integer", "number"} & set(wanted) and _number(value, "integer" in wanted):
        return f"{message}; write {value.strip()}, without quotes"
    return message


def _number(text: str, integer: bool) -> bool:
    try:
        number = int(text) if integer else float(text)
    except ValueError:
        return False
    return math.isfinite(number)


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


# Fargate task sizes AWS accepts: CPU units -> allowed memory in MiB.
FARGATE_MEMORY = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}


@rule
def service_sizes_and_counts(spec: Spec) -> Iterator[SpecProblem]:
    for name, service in spec.data["services"].items():
        base = ("services", name)
        allowed = FARGATE_MEMORY[service["cpu"]]
        cpu, memory = service["cpu"], service["memory"]
        if memory not in allowed:
            yield spec.problem(base + ("memory",),
                               f"Fargate does not accept {memory} MiB with {cpu} CPU units "
                               f"(allowed: {allowed[0]}-{allowed[-1]} in steps of {_step(allowed)})")
        low, desired, high = service["min_count"], service["desired_count"], service["max_count"]
        if not low <= desired <= high:
            counts = (base + (key,) for key in ("desired_count", "min_count", "max_count"))
            yield spec.problem(spec.most_specific(*counts),
                               f"needs min_count <= desired_count <= max_count ({low} <= {desired} <= {high})")
    ports = [(s["port"], n) for n, s in spec.data["services"].items()]
    for port, name in ports:
        if [p for p, _ in ports].count(port) > 1:
            yield spec.problem(("services", name, "port"), f"port {port} is used by another service")


def _step(allowed: list[int]) -> int:
    return allowed[1] - allowed[0] if len(allowed) > 1 else allowed[0]


# Longest environment-qualified names built from the project name, against AWS limits.
_NAME_LIMITS = [
    ("ALB name", "{project}-alb-{env}", 32),
    ("target group name", "{project}-frontend-tg-{env}", 32),
    ("S3 bucket name", "{project}-static-{env}", 63),
    ("S3 bucket name", "{project}-files-{env}-123456789012", 63),
]


@rule
def generated_names(spec: Spec) -> Iterator[SpecProblem]:
    for what, pattern, limit in _NAME_LIMITS:
        name = pattern.format(project=spec.data["project"], env=spec.name)
        if len(name) > limit:
            yield spec.problem(("project",), f"{what} {name!r} would be longer than AWS allows ({limit})")


@rule
def multi_az_needs_two_zones(spec: Spec) -> Iterator[SpecProblem]:
    if len(spec.data["network"]["availability_zones"]) >= 2:
        return
    if spec.data["database"]["multi_az"]:
        yield spec.problem(("database", "multi_az"), "Multi-AZ needs at least two availability zones")
    if spec.data["cache"]["replicas_per_shard"] > 0:
        yield spec.problem(("cache", "replicas_per_shard"),
                           "replicas in another zone need at least two availability zones")


@rule
def database_settings(spec: Spec) -> Iterator[SpecProblem]:
    database = spec.data["database"]
    if database["instance_class"] not in RDS_INSTANCE_MEMORY_GIB:
        yield spec.problem(("database", "instance_class"),
                           f"{database['instance_class']} is not in RDS_INSTANCE_MEMORY_GIB "
                           "(codemate_tfgen/sections/monitoring.py), which sizes the connections alarm; "
                           "add its memory there")
    ceiling = database.get("max_allocated_storage")
    if ceiling is not None and ceiling <= database["allocated_storage"]:
        yield spec.problem(spec.most_specific(("database", "max_allocated_storage"), ("database", "allocated_storage")),
                           f"must be larger than allocated_storage ({database['allocated_storage']}) "
                           "for storage autoscaling; omit it to turn autoscaling off")
    if len(spec.data["network"]["availability_zones"]) < 2 and not database["multi_az"]:
        yield spec.problem(("network", "availability_zones"),
                           "an RDS DB subnet group needs database subnets in at least two availability zones")
    yield from _window_problems(spec, database["backup_window"], database["maintenance_window"])


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 24 * 60


def _minutes(text: str) -> int:
    """Minutes into the week of "ddd:hh:mm", or into the day of "hh:mm"."""
    *day, hours, minutes = text.split(":")
    return (_DAYS.index(day[0]) * 24 * 60 if day else 0) + int(hours) * 60 + int(minutes)


def _window_problems(spec: Spec, backup: str, maintenance: str) -> Iterator[SpecProblem]:
    """RDS refuses windows shorter than 30 minutes and a maintenance window overlapping the
    daily backup window; the schema has checked both formats already."""
    backup_start, backup_end = (_minutes(part) for part in backup.split("-"))
    backup_length = (backup_end - backup_start) % (24 * 60)
    start, end = (_minutes(part) for part in maintenance.split("-"))
    length = (end - start) % _WEEK
    if backup_length < 30:
        yield spec.problem(("database", "backup_window"), "the backup window must last at least 30 minutes")
    if length < 30:
        yield spec.problem(("database", "maintenance_window"),
                           "the maintenance window must last at least 30 minutes")
        return
    maintenance_minutes = {(start + m) % _WEEK for m in range(length)}
    for day in range(7):
        if any((day * 24 * 60 + backup_start + m) % _WEEK in maintenance_minutes for m in range(backup_length)):
            yield spec.problem(("database", "maintenance_window"),
                               f"overlaps the daily backup window {backup} (UTC); RDS needs them apart")
            return


@rule
def cache_shards(spec: Spec) -> Iterator[SpecProblem]:
    cache = spec.data["cache"]
    if not cache["cluster_mode"] and cache["num_shards"] != 1:
        yield spec.problem(("cache", "num_shards"), "more than one shard needs cluster_mode: true")


_RESERVED_TAGS = {"Environment", "Project", "ManagedBy"}


@rule
def tags_do_not_override_defaults(spec: Spec) -> Iterator[SpecProblem]:
    for key in spec.data.get("tags", {}):
        if key in _RESERVED_TAGS or key.lower().startswith("aws:"):
            yield spec.problem(("tags", key),
                               f"tag {key!r} is set by tfgen (provider default_tags) or reserved by AWS", key=True)


def _network(spec: Spec, path: JsonPath, text: str) -> ipaddress.IPv4Network | SpecProblem:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as exc:
        return spec.problem(path, f"{text} is not a valid IPv4 network: {exc}")


# --- secrets --------------------------------------------------------------------------------

# Shapes of real credentials. A spec names secrets (Secrets Manager names); it never holds one.
_SECRET_SHAPES = [
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    # 40 key characters; `/` is one of them, yet also separates path segments and branch names
    # (`feature/<key>`), so a `/` may bound the key too. Matches may overlap (the lookahead).
    (re.compile(r"(?=((?:(?<![A-Za-z0-9/+])|(?<=/))[A-Za-z0-9/+]{40}(?:(?![A-Za-z0-9/+=])|(?=/))))"),
     "an AWS secret access key"),
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
            if any(_mixed(match.group(match.lastindex or 0)) for match in pattern.finditer(item)):
                yield spec.problem(path, f"looks like {what}; a spec holds no secrets: store it in "
                                         "Secrets Manager and reference the secret by name")
                break
