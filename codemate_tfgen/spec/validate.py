"""Validate: the JSON Schema first, then the rules a schema cannot express.

Every problem names the spec file, line, column and JSON path; all problems of a run are
collected and raised together as one SpecError.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from codemate_tfgen import cache as user_cache
from codemate_tfgen.aws import (
    CACHE_NODE_TYPES,
    EC2_INSTANCE_TYPES,
    FARGATE_MEMORY,
    RDS_INSTANCE_MEMORY_GIB,
    max_connections,
)
from codemate_tfgen.errors import SpecError, SpecProblem
from codemate_tfgen.spec import schedule
from codemate_tfgen.spec.baseline import baseline_move
from codemate_tfgen.spec.load import JsonPath, Spec, closest, display_path, format_path, suggestion
from codemate_tfgen.spec.schema import catch_all_priority, spec_schema, with_defaults


@cache
def _validator() -> Any:
    import jsonschema  # ~30 ms with the validator: only paid when the verdict below is not cached

    return jsonschema.Draft202012Validator(spec_schema())


# What `tfgen new` writes where a copied value must change (codemate_tfgen/spec/scaffold.py).
PLACEHOLDER = "TODO:"


def placeholder_problems(spec: Spec) -> list[SpecProblem]:
    """Each value still holding a `tfgen new` placeholder, with what to set there."""
    return [spec.problem(path, f"still to set: {item.removeprefix(PLACEHOLDER).strip()}")
            for path, _key, item in _strings(spec.data)
            if isinstance(item, str) and item.startswith(PLACEHOLDER)] + [
        spec.problem(path + (index,), f"still to set: {entry.removeprefix(PLACEHOLDER).strip()}")
        for path, _key, item in _strings(spec.data) if isinstance(item, list)
        for index, entry in enumerate(item) if isinstance(entry, str) and entry.startswith(PLACEHOLDER)]


def validate(spec: Spec) -> None:
    """Raise SpecError listing every problem of the spec; return quietly when it is valid."""
    todo = placeholder_problems(spec)
    marked = tuple(problem.path for problem in todo)
    # A placeholder is the one problem of its value (a text where a number belongs is the same
    # mistake); the rules between values wait for real ones.
    problems = todo + [p for p in _schema_problems(spec) if not p.path.startswith(marked)]
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
            error = best_match(_alternative_of_its_type(error))
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
            close = closest(error.instance, [v for v in error.validator_value if isinstance(v, str)]) if isinstance(
                error.instance, str) else None
            hint = f"; did you mean {json.dumps(close)}?" if close else ""
            yield spec.problem(path, f"{_as_typed(spec, path, error.instance)} is not one of: {choices}{hint}")
        elif error.validator == "pattern":
            # A pattern's "$comment" says in words what it allows.
            words = f": {error.schema['$comment']}" if "$comment" in error.schema else ""
            yield spec.problem(path, f"{json.dumps(error.instance)} does not match {error.validator_value}{words}")
        elif error.validator == "type" and not isinstance(error.instance, dict | list):
            yield spec.problem(path, _type_message(spec, path, error.instance, error.validator_value))
        else:
            yield spec.problem(path, _short(error.message))


def _alternative_of_its_type(error: Any) -> list[Any]:
    """Of the errors of each alternative (a string, or {ref: NAME}), those of the alternatives
    whose type the value has: a mapping with a misspelled ref is a wrong ref, not a wrong type."""
    typed = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
    return typed or list(error.context)


def _unknown_key_message(key: str, allowed: list[str]) -> str:
    close = closest(key, allowed)
    hint = f"; did you mean {close!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return f"unknown key {key!r}{hint}"


def _misspelled(instance: Any, schema: dict[str, Any], missing: str) -> bool:
    """A missing key that an unknown key beside it misspells: one mistake, reported once, where
    it was made (the unknown key's "did you mean")."""
    allowed = sorted(schema.get("properties", {}))
    return isinstance(instance, dict) and any(closest(key, allowed) == missing for key in set(instance) - set(allowed))


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
            yield spec.problem(spec.most_specific(path, ("region",)), f"{zone} is not in region {spec.data['region']}")
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
                here = spec.most_specific(path, ("network", "vpc_cidr"))
                which = "" if here == path else f"{format_path(path)} = "
                yield spec.problem(here, f"{which}{subnet} is not inside the VPC CIDR {vpc}")
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
    if backend.get("replica_region") == backend["region"]:
        yield spec.problem(("backend", "replica_region"),
                           f"{backend['region']} is the state bucket's own region; name a second one")


@rule
def service_sizes_and_counts(spec: Spec) -> Iterator[SpecProblem]:
    for name, service in spec.data["services"].items():
        base = ("services", name)
        allowed = FARGATE_MEMORY[service["cpu"]]
        cpu, memory = service["cpu"], service["memory"]
        if memory not in allowed:
            yield spec.problem(spec.most_specific(base + ("memory",), base + ("cpu",)),
                               f"Fargate does not accept {memory} MiB with {cpu} CPU units "
                               f"(allowed: {_choices(allowed)})")
        low, desired, high = service["min_count"], service["desired_count"], service["max_count"]
        if not low <= desired <= high:
            counts = (base + (key,) for key in ("desired_count", "min_count", "max_count"))
            yield spec.problem(spec.most_specific(*counts),
                               f"needs min_count <= desired_count <= max_count ({low} <= {desired} <= {high})")
    ports = [(s["port"], n) for n, s in spec.data["services"].items() if "port" in s]
    for port, name in ports:
        if [p for p, _ in ports].count(port) > 1:
            yield spec.problem(("services", name, "port"), f"port {port} is used by another service")


def _choices(allowed: list[int]) -> str:
    """Memory sizes as AWS's table has them: a range when evenly spaced, else each one."""
    steps = {b - a for a, b in zip(allowed, allowed[1:], strict=False)}
    if len(allowed) > 3 and len(steps) == 1:
        return f"{allowed[0]}-{allowed[-1]} in steps of {steps.pop()}"
    return ", ".join(map(str, allowed))


# AWS: "up to five match evaluations per rule" (path and host values together) on an ALB listener.
RULE_CONDITION_VALUES = 5


@rule
def service_routing(spec: Spec) -> Iterator[SpecProblem]:
    """What the HTTPS listener can be given: one default, unique rule priorities, no condition
    routed twice, and a health-checked port behind every routed service."""
    services = spec.data["services"]
    routed = {name: s for name, s in services.items() if "routing" in s}
    defaults = [name for name, s in routed.items() if s["routing"].get("default")]
    if routed and not defaults:
        # Where a default was turned off, if one was: that is the line the user wrote.
        cleared = [("services", name, "routing", "default") for name, s in routed.items()
                   if s["routing"].get("default") is False]
        yield spec.problem(spec.most_specific(*reversed(cleared)) if cleared else ("services",),
                           "one routed service needs routing.default: true; it receives the requests no rule "
                           "matches (the listener's default action)", key=not cleared)
    for name in defaults[1:]:
        yield spec.problem(("services", name, "routing", "default"),
                           f"services.{defaults[0]} is the default already; a listener has one default action")
    for name, service in services.items():
        base = ("services", name)
        if name not in routed:
            for key in ("port", "health_check_path"):
                if key in service:
                    yield spec.problem(base + (key,), "only used with routing (the load balancer's port and "
                                                      "health check); a service without routing has neither",
                                       key=True)
            continue
        for key in ("port", "health_check_path"):
            if key not in service:
                yield spec.problem(base + ("routing",), f"a routed service needs {key}: the load balancer "
                                                        "forwards to that port and checks that path", key=True)
        if not service["routing"].get("default") and not service["routing"].get("rules"):
            yield spec.problem(base + ("routing",), "routing with neither default nor rules sends nothing here",
                               key=True)
    priorities: dict[int, JsonPath] = {}
    conditions: dict[tuple, JsonPath] = {}
    for name, service in routed.items():
        for index, rule_ in enumerate(service["routing"].get("rules", [])):
            path = ("services", name, "routing", "rules", index)
            paths, hosts = rule_.get("paths", []), rule_.get("hosts", [])
            if not paths and not hosts:
                yield spec.problem(path, "a rule needs paths or hosts to match", key=True)
            if len(paths) + len(hosts) > RULE_CONDITION_VALUES:
                yield spec.problem(path, f"{len(paths) + len(hosts)} path and host values; an ALB rule takes at "
                                         f"most {RULE_CONDITION_VALUES}: split it into two rules")
            other = priorities.setdefault(rule_["priority"], path)
            if other != path:
                here = spec.most_specific(path + ("priority",), other + ("priority",))
                there = other if here[:-1] == path else path
                yield spec.problem(here, f"priority {rule_['priority']} is also used by {format_path(there)}; "
                                         "each rule needs its own")
            for value in paths or [None]:
                key = (value, tuple(sorted(hosts)))
                first = conditions.setdefault(key, path)
                if first != path:
                    what = f"path {value}" if value else f"hosts {', '.join(hosts)}"
                    here = spec.most_specific(path, first)
                    there = first if here == path else path
                    yield spec.problem(here, f"{what} is routed by {format_path(there)} too; the rule with the "
                                             "higher priority number would never match it")


# The rule a blue/green default service gets for everything no other rule matches (ECS moves the
# weights of a listener rule, never of the listener's default action): the last priority.
# ALB security group: 60 inbound rules by default, of which CloudFront's origin-facing prefix
# list takes 55 ("Amazon VPC quotas"; the list's max entries count against the group).
SECURITY_GROUP_INBOUND_RULES = 60
CLOUDFRONT_PREFIX_LIST_ENTRIES = 55


@rule
def service_deployment(spec: Spec) -> Iterator[SpecProblem]:
    """Blue/green needs a load balancer path that ECS can move: one listener rule per service."""
    services = with_defaults(spec.data)["services"]
    blue_green = [name for name, s in services.items() if s["deployment"]["strategy"] == "blue_green"]
    for name, service in services.items():
        base = ("services", name, "deployment")
        if name not in blue_green:
            if "bake_time_minutes" in spec.data["services"][name].get("deployment", {}):
                yield spec.problem(base + ("bake_time_minutes",), "only used with strategy: blue_green", key=True)
            continue
        if "routing" not in service:
            yield spec.problem(base + ("strategy",), "blue_green moves load balancer traffic between two target "
                                                     "groups; a service without routing has none (use rolling)")
            continue
        parts = (["routing.default"] if service["routing"].get("default") else []) + [
            f"routing.rules[{index}]" for index in range(len(service["routing"].get("rules", [])))]
        if len(parts) > 1:
            yield spec.problem(base + ("strategy",), f"blue_green needs the service's traffic on one listener rule, "
                                                     f"whose weights ECS moves; it has {len(parts)}: "
                                                     f"{', '.join(parts)}")
        if "capacity" in service:
            yield spec.problem(("services", name, "capacity"),
                               "not with blue_green: ECS changes a capacity strategy only in a forced deployment, so "
                               "every Terraform change to the service would start a blue/green deployment, and those "
                               "Terraform starts do not alternate the target groups "
                               "(hashicorp/terraform-provider-aws#45678)", key=True)
        if f"{name}-green" in services:
            yield spec.problem(("services", f"{name}-green"), f"the name of services.{name}'s alternate (green) "
                                                              "target group; rename this service", key=True)
    default = next((name for name, s in services.items() if s.get("routing", {}).get("default")), None)
    if default in blue_green:
        for name, service in services.items():
            for index, rule_ in enumerate(service.get("routing", {}).get("rules", [])):
                if rule_["priority"] == catch_all_priority():
                    yield spec.problem(("services", name, "routing", "rules", index, "priority"),
                                       f"{catch_all_priority()} is the catch-all rule of the blue/green default "
                                       f"service {default}; use a lower number")
    cidrs = spec.data["load_balancer"].get("test_listener_cidrs", [])
    path = ("load_balancer", "test_listener_cidrs")
    if cidrs and not blue_green:
        yield spec.problem(path, "no service deploys blue/green, so there is no test listener", key=True)
    for index, text in enumerate(cidrs):
        network = _network(spec, path + (index,), text)
        if isinstance(network, SpecProblem):
            yield network
    room = SECURITY_GROUP_INBOUND_RULES - CLOUDFRONT_PREFIX_LIST_ENTRIES
    if spec.data["cdn"]["enabled"] and len(cidrs) > room:
        yield spec.problem(path, f"{len(cidrs)} addresses; behind CloudFront the load balancer's security group "
                                 f"has room for {room} (CloudFront's prefix list counts as "
                                 f"{CLOUDFRONT_PREFIX_LIST_ENTRIES} of its {SECURITY_GROUP_INBOUND_RULES} "
                                 "inbound rules)")


@rule
def service_capacity(spec: Spec) -> Iterator[SpecProblem]:
    """Fargate Spot: a strategy ECS accepts, and none that leaves a production load balancer
    without tasks when AWS reclaims Spot capacity."""
    settings = with_defaults(spec.data)
    production = settings["production"]
    for name, service in settings["services"].items():
        if "capacity" not in service:
            continue
        capacity = service["capacity"]
        path = ("services", name, "capacity")
        if capacity["on_demand_weight"] + capacity["spot_weight"] == 0:
            yield spec.problem(path, "on_demand_weight and spot_weight are both 0; ECS places the tasks beyond the "
                                     "base by weight and needs one above 0", key=True)
            continue
        spot_only = capacity["on_demand_base"] == 0 and capacity["on_demand_weight"] == 0
        if spot_only and production and "routing" in service and not capacity["allow_spot_only"]:
            yield spec.problem(path, "all tasks on Fargate Spot: when AWS reclaims the capacity the load balancer "
                                     "has no target in this production environment; give it an on_demand_base or "
                                     "on_demand_weight, or set allow_spot_only: true", key=True)


@rule
def disposable_without_protection(spec: Spec) -> Iterator[SpecProblem]:
    """A disposable environment's destroy deletes everything: deletion protection would stop it
    halfway, after everything not behind the protected resources was deleted. Reported at
    `teardown`, the environment's decision, whichever file set the protections."""
    settings = with_defaults(spec.data)
    protected = [f"{section}.deletion_protection" for section in ("database", "load_balancer")
                 if settings[section]["deletion_protection"]]
    if settings["teardown"] == "disposable" and protected:
        yield spec.problem(("teardown",), f"disposable, but {' and '.join(protected)} "
                                          f"{'is' if len(protected) == 1 else 'are'} true: its destroy would stop "
                                          "there after deleting the rest; set it to false in this environment, or "
                                          "teardown: protected")


@rule
def service_schedules(spec: Spec) -> Iterator[SpecProblem]:
    """Scheduled scaling: expressions Application Auto Scaling accepts, in a known time zone,
    and a day that returns to the range the spec sets (the one the scaling target keeps)."""
    for name, service in with_defaults(spec.data)["services"].items():
        schedules = service["schedules"]
        base = ("services", name, "schedules")
        seen: dict[str, int] = {}
        for index, item in enumerate(schedules):
            path = base + (index,)
            if item["name"] in seen:
                yield spec.problem(path + ("name",), f"schedules[{seen[item['name']]}] is named "
                                                     f"{item['name']!r} too; names are unique in a service")
            seen.setdefault(item["name"], index)
            try:
                schedule.parse(item["cron"])
            except schedule.CronError as exc:
                yield spec.problem(path + ("cron",), f"not an Application Auto Scaling cron: {exc}")
            if item["timezone"] not in schedule.time_zones():
                yield spec.problem(path + ("timezone",), f"{item['timezone']!r} is not an IANA time zone"
                                   + suggestion(item["timezone"], sorted(schedule.time_zones())))
            if item["min_count"] > item["max_count"]:
                yield spec.problem(path + ("min_count",), f"above max_count ({item['max_count']})")
        restores = [item for item in schedules
                    if (item["min_count"], item["max_count"]) == (service["min_count"], service["max_count"])]
        if schedules and not restores:
            yield spec.problem(base, f"no schedule restores min_count {service['min_count']} and max_count "
                                     f"{service['max_count']}: after the first one the service would never return "
                                     "to its own range", key=True)


@rule
def service_secrets_and_environment(spec: Spec) -> Iterator[SpecProblem]:
    catalog = spec.data["secrets"]
    for name, service in spec.data["services"].items():
        base = ("services", name)
        for variable, reference in service.get("secrets", {}).items():
            path = base + ("secrets", variable)
            secret, _, key = reference.partition(":")
            entry = catalog.get(secret)
            if entry is None:
                yield spec.problem(path, f"no secret {secret!r} in secrets" + suggestion(secret, sorted(catalog)))
            elif key and "keys" not in entry:
                yield spec.problem(path, f"secret {secret!r} is not a JSON secret (it has no keys); name it alone")
            elif key and key not in entry["keys"]:
                yield spec.problem(path, f"secret {secret!r} has no key {key!r}" + suggestion(key, entry["keys"]))
            elif not key and "keys" in entry:
                yield spec.problem(path, f"secret {secret!r} is JSON ({', '.join(entry['keys'])}): name one key, "
                                         f"e.g. {secret}:{entry['keys'][0]}")
        for variable in sorted(set(service.get("secrets", {})) & set(service.get("environment", {}))):
            yield spec.problem(base + ("secrets", variable), "also set in environment; ECS refuses a container "
                                                               "with the same variable twice", key=True)


@rule
def database_user_secret(spec: Spec) -> Iterator[SpecProblem]:
    """The setup task reads username and password from the application user's secret."""
    name = spec.data["database"]["app_user_secret_name"]
    entry = spec.data["secrets"].get(name)
    path = ("database", "app_user_secret_name")
    if entry is None:
        yield spec.problem(path, f"no secret {name!r} in secrets" + suggestion(name, sorted(spec.data["secrets"])))
    elif not {"username", "password"} <= set(entry.get("keys", [])):
        yield spec.problem(path, f"secret {name!r} needs the keys username and password (it has: "
                                 f"{', '.join(entry.get('keys', [])) or 'none'})")


@rule
def usage_names_services(spec: Spec) -> Iterator[SpecProblem]:
    services = sorted(spec.data["services"])
    for name in spec.data.get("usage", {}).get("tasks", {}):
        if name not in services:
            yield spec.problem(("usage", "tasks", name), f"{name!r} is not a service" + suggestion(name, services),
                               key=True)


@rule
def usage_consistent(spec: Spec) -> Iterator[SpecProblem]:
    usage = with_defaults(spec.data.get("usage", {}), spec_schema()["properties"]["usage"])
    if usage["aws_service_data_gb"] > usage["nat_data_gb"]:
        yield spec.problem(("usage", "aws_service_data_gb"), (
            f"{usage['aws_service_data_gb']} exceeds nat_data_gb ({usage['nat_data_gb']}); it is the part of "
            "nat_data_gb that goes to AWS services"))


# The types tfgen knows (the tables of codemate_tfgen/aws.py) are the ones the price book may price
# (tfgen cost); an RDS class's memory also sizes max_connections and the connections alarm.
_KNOWN_TYPES = (
    (("database", "instance_class"), RDS_INSTANCE_MEMORY_GIB, "an RDS instance class"),
    (("database", "read_replicas", "instance_class"), RDS_INSTANCE_MEMORY_GIB, "an RDS instance class"),
    (("cache", "node_type"), CACHE_NODE_TYPES, "an ElastiCache node type"),
    (("bastion", "instance_type"), EC2_INSTANCE_TYPES, "an EC2 instance type"),
    (("network", "nat", "instance_type"), EC2_INSTANCE_TYPES, "an EC2 instance type"),
)


@rule
def instance_types_known(spec: Spec) -> Iterator[SpecProblem]:
    data = with_defaults(spec.data)
    for path, known, what in _KNOWN_TYPES:
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value not in known:
            yield spec.problem(path, f"{value} is not {what} tfgen knows" + suggestion(value, sorted(known)))


# Environment-qualified names built from the project and service names, against AWS limits.
_NAME_LIMITS = [
    ("ALB name", "{project}-alb-{env}", 32),
    # The buckets end in the 12-digit account ID (modules storage/s3 and cicd/codepipeline).
    ("S3 bucket name", "{project}-files-{env}-123456789012", 63),
    ("S3 bucket name", "{project}-logs-{env}-123456789012", 63),
    ("S3 bucket name", "{project}-{env}-pipeline-artifacts-123456789012", 63),
]
# The user files' replica, where the environment has a disaster-recovery region (named after it).
_DR_NAME_LIMITS = [("S3 bucket name", "{project}-files-{env}-123456789012-{dr_region}", 63)]
_SERVICE_NAME_LIMITS = [
    ("IAM role name", "{project}-{env}-{service}-execution", 64),
    ("IAM role name", "{project}-{env}-{service}-build", 64),
]


@rule
def generated_names(spec: Spec) -> Iterator[SpecProblem]:
    backup = spec.data["database"].get("cross_region_backup")
    for what, pattern, limit in _NAME_LIMITS + (_DR_NAME_LIMITS if backup else []):
        name = pattern.format(project=spec.data["project"], env=spec.name, dr_region=backup and backup["region"])
        if len(name) > limit:
            yield spec.problem(("project",), f"{what} {name!r} would be longer than AWS allows ({limit})")
    for service in spec.data["services"]:
        for what, pattern, limit in _SERVICE_NAME_LIMITS:
            name = pattern.format(project=spec.data["project"], env=spec.name, service=service)
            if len(name) > limit:
                yield spec.problem(("services", service), f"{what} {name!r} would be longer than AWS allows "
                                                          f"({limit})", key=True)


@rule
def multi_az_needs_two_zones(spec: Spec) -> Iterator[SpecProblem]:
    if len(spec.data["network"]["availability_zones"]) >= 2:
        return
    zones = ("network", "availability_zones")
    if spec.data["database"]["multi_az"]:
        yield spec.problem(spec.most_specific(("database", "multi_az"), zones),
                           "Multi-AZ needs at least two availability zones")
    if spec.data["cache"]["replicas_per_shard"] > 0:
        yield spec.problem(spec.most_specific(("cache", "replicas_per_shard"), zones),
                           "replicas in another zone need at least two availability zones")


@rule
def database_settings(spec: Spec) -> Iterator[SpecProblem]:
    database = spec.data["database"]
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
def database_options(spec: Spec) -> Iterator[SpecProblem]:
    """Read replicas a standby of this primary can be, and backups replicated elsewhere."""
    database = spec.data["database"]
    primary = database["instance_class"]
    replicas = database.get("read_replicas")
    if replicas and primary in RDS_INSTANCE_MEMORY_GIB:
        cls, path = replicas["instance_class"], ("database", "read_replicas", "instance_class")
        if cls in RDS_INSTANCE_MEMORY_GIB and RDS_INSTANCE_MEMORY_GIB[cls] < RDS_INSTANCE_MEMORY_GIB[primary]:
            yield spec.problem(path, f"{cls} has less memory ({RDS_INSTANCE_MEMORY_GIB[cls]} GiB) than the primary "
                                     f"{primary} ({RDS_INSTANCE_MEMORY_GIB[primary]} GiB); PostgreSQL needs a "
                                     f"standby to allow the primary's max_connections ({max_connections(primary)})")
    backup = database.get("cross_region_backup")
    if backup and backup["region"] == spec.data["region"]:
        yield spec.problem(("database", "cross_region_backup", "region"),
                           f"{backup['region']} is the environment's own region; name a second one")
    if not replicas:
        for name, service in spec.data["services"].items():
            for variable, value in service.get("environment", {}).items():
                if isinstance(value, dict) and value["ref"] == "database.read_addresses":
                    yield spec.problem(("services", name, "environment", variable, "ref"),
                                       "database.read_addresses needs database.read_replicas")


@rule
def storage_tiering(spec: Spec) -> Iterator[SpecProblem]:
    """User files stay readable: an object in an archive tier answers a GET with InvalidObjectState
    until someone restores it (RestoreObject, hours later), so the archive tiers need an app that
    does that."""
    tiering = spec.data["storage"].get("intelligent_tiering", {})
    archive, deep = tiering.get("archive_access_days"), tiering.get("deep_archive_access_days")
    if archive is not None and deep is not None and deep <= archive:
        yield spec.problem(("storage", "intelligent_tiering", "deep_archive_access_days"),
                           f"must be more than archive_access_days ({archive}): S3 moves objects to Deep Archive "
                           "Access after Archive Access")
    tier = next((key for key in ("archive_access_days", "deep_archive_access_days") if key in tiering), None)
    if tier and not tiering.get("restore_archived"):
        yield spec.problem(("storage", "intelligent_tiering", tier),
                           "archived user files cannot be read: S3 answers a GET of an object in an archive tier "
                           "with InvalidObjectState until it is restored; set restore_archived: true once the app "
                           "restores such files (docs/runtime.md), or leave the archive tiers out")


@rule
def bastion_access(spec: Spec) -> Iterator[SpecProblem]:
    """Session Manager needs no inbound port; SSH needs a key pair and named addresses."""
    bastion = spec.data.get("bastion")
    if bastion is None:
        return
    cidrs = bastion.get("ssh_cidrs")
    if cidrs is None:
        if "key_name" in bastion:
            yield spec.problem(("bastion", "key_name"), "only used with ssh_cidrs (Session Manager needs no key)",
                               key=True)
        return
    if "key_name" not in bastion:
        yield spec.problem(("bastion", "ssh_cidrs"), "SSH needs key_name, the EC2 key pair to log in with", key=True)
    for index, text in enumerate(cidrs):
        path = ("bastion", "ssh_cidrs", index)
        network = _network(spec, path, text)
        if isinstance(network, SpecProblem):
            yield network
        elif network.prefixlen == 0:
            yield spec.problem(path, f"{text} opens SSH to the whole internet; name the addresses people connect "
                                     "from, or omit ssh_cidrs and use Session Manager")


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
    # Stripe's secret and restricted keys (sk_live_..., rk_test_...).
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"), "a Stripe secret key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}"), "a GitHub token"),
    # scheme://user:password@host: a connection string with its password in it.
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@[^\s]"), "a URL with a password"),
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


def _names_a_secret(path: JsonPath) -> bool:
    """services.<name>.secrets.<VARIABLE> holds the name of a Secrets Manager secret, not a value:
    NEXTAUTH_SECRET: nextauth is how a spec says where a credential comes from."""
    return len(path) == 4 and path[0] == "services" and path[2] == "secrets"


def _secret_problems(spec: Spec) -> Iterator[SpecProblem]:
    for path, key, item in _strings(spec.data):
        if (isinstance(item, str | int | float) and not isinstance(item, bool) and _SECRET_KEYS.search(key)
                and not _names_a_secret(path)):
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


# --- topology: rules across the environments of one tree -------------------------------------


def topology_problems(specs: list[Spec], newer: Callable[[Spec], Any] | None = None) -> list[SpecProblem]:
    """What AWS refuses, or what breaks, when environments share an account or cross accounts.

    Environments naming the same account.name share an AWS account: exactly one of them owns
    its baseline (AWS allows one GuardDuty detector per account and region, and one multi-region
    trail already records everything; ECR one replication configuration per registry, so only
    that owner may have a disaster-recovery region), and no two claim the same host (its DNS
    record and its certificate's validation record). Every environment names the same ci
    repository and default branch (the one workflow of the tree). A state bucket, a lock table
    and a hosted zone belong to one account: environments of different accounts cannot share
    them. A conflict is reported at the environment that joined it, the newest by `newer` (a sort
    key; default: the later name), never at one already there.
    """
    key = newer or (lambda spec: spec.name)
    problems: list[SpecProblem] = []
    accounts: dict[str, list[Spec]] = {}
    for spec in sorted(specs, key=lambda spec: spec.name):
        accounts.setdefault(spec.data["account"]["name"], []).append(spec)
    for account, members in accounts.items():
        owners = [spec for spec in members if "baseline" in spec.data["account"]]
        if not owners:
            names = ", ".join(spec.name for spec in members)
            problems.append(_at(max(members, key=key), ("account", "name"), (
                f"no environment of account {account!r} ({names}) sets account.baseline; one of them must own "
                "the account's CloudTrail trail and GuardDuty detector")))
        owners = sorted(owners, key=key) if len(owners) > 1 else owners
        problems.extend(_disposable_audit_history(owner, members) for owner in owners[:1]
                        if _owns_trail_disposably(owner))
        for spec in owners[1:]:
            problems.append(_at(spec, ("account", "baseline"), (
                f"{owners[0].name} owns the baseline of account {account!r} already: AWS allows one GuardDuty "
                "detector per account and region, and a second multi-region trail records every event twice")))
        # The baseline's owner also writes the account's ECR replication (one per registry): an
        # environment restored elsewhere from its backups (database.cross_region_backup) would find
        # no images there unless it is that owner.
        for spec in members:
            if "cross_region_backup" in spec.data["database"] and owners and spec is not owners[0]:
                problems.append(_at(spec, ("database", "cross_region_backup"), (
                    f"{spec.name} would be restored in {spec.data['database']['cross_region_backup']['region']} "
                    f"without its images: ECR replicates a registry once, from the environment that owns the "
                    f"baseline of account {account!r} ({owners[0].name}); move account.baseline here, or remove "
                    "database.cross_region_backup")))
        hosts: dict[tuple[str, str], list[Spec]] = {}
        for spec in members:
            hosts.setdefault((spec.data["dns"]["hostname"], spec.data["dns"]["zone_name"]), []).append(spec)
        for host, claims in hosts.items():
            first, *later = sorted(claims, key=key) if len(claims) > 1 else claims
            for spec in later:
                problems.append(_at(spec, ("dns", "hostname"), (
                    f"{'.'.join(host)} is {first.name}'s host, in the same account: both would manage its DNS "
                    "record and its certificate's validation record; give the environment a host of its own")))
    # One repository holds the tree and its one workflow, whose roles trust that repository: the
    # value most environments name holds (ties: the one already there), the others are reported.
    ci = spec_schema()["properties"]["ci"]["properties"]
    for key_name in ("repository", "default_branch"):
        named = {spec.name: spec.data["ci"].get(key_name, ci[key_name].get("default")) for spec in specs}
        [(held, _)] = Counter(named[spec.name] for spec in sorted(specs, key=key)).most_common(1)
        holder = next(spec for spec in sorted(specs, key=key) if named[spec.name] == held)
        for spec in specs:
            if named[spec.name] != held:
                problems.append(_at(spec, ("ci", key_name), (
                    f"{named[spec.name]!r}, but {holder.name} names {held!r}: one repository holds the generated "
                    "tree and runs its one workflow; every environment names the same ci values")))
    shared = [("backend", "bucket", "state bucket", "a bucket of its own account (a bucket in another account "
               "needs a bucket policy tfgen does not write)"),
              ("backend", "dynamodb_table", "lock table", "a table of its own account"),
              ("dns", "zone_name", "hosted zone", "a zone in its own account: delegate a subdomain of the zone "
               "to it and name that")]
    for section, key_name, what, fix in shared:
        users: dict[str, list[Spec]] = {}
        for spec in specs:
            if key_name in spec.data[section]:
                users.setdefault(spec.data[section][key_name], []).append(spec)
        for value, members in users.items():
            if len({spec.data["account"]["name"] for spec in members}) < 2:
                continue
            # The account most of its environments are in holds it (ties: the one already there).
            members = sorted(members, key=key)
            [(holder, _)] = Counter(spec.data["account"]["name"] for spec in members).most_common(1)
            for spec in members:
                if spec.data["account"]["name"] != holder:
                    problems.append(_at(spec, (section, key_name), (
                        f"the {what} {value!r} belongs to account {holder!r}; this environment is in account "
                        f"{spec.data['account']['name']!r} and needs {fix}")))
    return problems


def _owns_trail_disposably(spec: Spec) -> bool:
    settings = with_defaults(spec.data)
    return settings["teardown"] == "disposable" and settings["account"]["baseline"]["cloudtrail"]


def _disposable_audit_history(owner: Spec, members: list[Spec]) -> SpecProblem:
    """The account's CloudTrail trail writes to its owner's logs bucket, which a disposable
    destroy empties and deletes (force_destroy): the audit history of the whole account would go
    with it. Refused rather than kept out of force_destroy: a disposable destroy that stops at a
    non-empty bucket would leave the environment half destroyed. The way out is the generated
    README's (spec.baseline), said the same here."""
    move = baseline_move(owner.name, {spec.name: with_defaults(spec.data) for spec in members})
    path = owner.most_specific(("teardown",), ("account", "baseline", "cloudtrail"))
    return _at(owner, path, f"a disposable environment (teardown) owning the CloudTrail trail of account "
                            f"{move.account!r} (account.baseline): its destroy would delete the logs bucket holding "
                            f"the account's audit history; {move.summary()} (the commands: the generated README, "
                            "\"Tearing down\"); or keep teardown: protected")


def _at(spec: Spec, path: JsonPath, message: str) -> SpecProblem:
    """A problem where the user of `spec` fixes it: a value it inherits is set in its own file,
    so the problem points at its `extends` and says where the value came from."""
    origin = spec.location(path)
    own = display_path(spec.files[-1])
    if origin.file == own or ("extends",) not in spec.key_locations:
        return SpecProblem(origin, format_path(path), message)
    return SpecProblem(spec.key_locations[("extends",)], format_path(path),
                       f"{message} (the value comes from {origin}; set it in {own})")
