"""Cost: the monthly cost of an environment, computed from its validated spec and the price book.

Resources come from the spec (instance classes, task shapes, node and NAT counts, toggles),
quantities nobody can read off the infrastructure (traffic, storage, API spend) from the spec's
`usage` section (defaults in the JSON Schema), unit prices from data/prices-<region>.yaml with the
project's specs/_prices.yaml over it. What has no price is listed with the estimate, never guessed.
Each line is rounded to the cent the way the design document rounds its table; totals are sums of
lines. Nothing here stores a result: every figure is recomputed from those three inputs.

Scenarios are the document's optimizations ("비용 최적화 전략"); each one changes the inputs (the
spec, the usage or the prices in effect), never a result.
"""

from __future__ import annotations

import copy
import functools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from codemate_tfgen import gitrefs
from codemate_tfgen.aws import CACHE_NODE_TYPES, EC2_INSTANCE_TYPES, FARGATE_MEMORY, RDS_INSTANCE_MEMORY_GIB
from codemate_tfgen.cost.scenarios import OPTIMIZATIONS
from codemate_tfgen.errors import Location, SpecError, SpecProblem, UsageError, ValueRefused
from codemate_tfgen.spec import schedule
from codemate_tfgen.spec.load import (
    PRICES_FILE,
    JsonPath,
    Spec,
    closest,
    display_path,
    format_path,
    load_spec,
    read_document,
    suggestion,
)
from codemate_tfgen.spec.schema import spec_schema, with_defaults
from codemate_tfgen.spec.validate import validate

CENT = Decimal("0.01")
CATEGORIES = {
    "compute": "Compute (ECS, EC2)",
    "networking": "Networking (NAT, ALB, CloudFront)",
    "database": "Database (RDS, Redis)",
    "ai": "AI services",
    "cicd": "CI/CD (CodePipeline, CodeBuild)",
    "other": "Other (S3, ECR, CloudWatch, Route 53, Secrets Manager)",
}
# Interface endpoints the network creates with security.vpc_endpoints (see the schema's description).
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


@dataclass(frozen=True)
class Line:
    category: str
    service: str
    item: str
    spec: str
    hourly: Decimal | None
    monthly: Decimal

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.item)


@dataclass(frozen=True)
class Estimate:
    env: str
    scenario: str
    applied: tuple[str, ...]
    hours: Decimal
    lines: tuple[Line, ...]
    budget: Decimal | None
    # What the estimate leaves out: charges it has no price or no usage figure for.
    unpriced: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        return sum((line.monthly for line in self.lines), Decimal(0))

    @property
    def budget_share(self) -> Decimal | None:
        """The estimate as a share of the environment's budget (1 is all of it)."""
        return None if self.budget is None else self.total / self.budget

    def by_category(self) -> dict[str, Decimal]:
        out = {name: Decimal(0) for name in CATEGORIES}
        for line in self.lines:
            out[line.category] += line.monthly
        return out


# --- price book -----------------------------------------------------------------------------


# The tables that name instance classes, and the classes each may name (codemate_tfgen/aws.py,
# which the spec rules check the spec against): the book prices nothing the spec refuses.
CLASS_TABLES: dict[tuple[str, ...], tuple[frozenset[str], str]] = {
    ("rds", "instance_hour"): (frozenset(RDS_INSTANCE_MEMORY_GIB), "RDS instance class"),
    ("elasticache", "node_hour"): (CACHE_NODE_TYPES, "ElastiCache node type"),
    ("ec2", "instance_hour"): (EC2_INSTANCE_TYPES, "EC2 instance type"),
    ("elasticache", "reserved_month"): (CACHE_NODE_TYPES, "ElastiCache node type"),
    ("rds", "reserved_month"): (frozenset(f"{cls}-{az}" for cls in RDS_INSTANCE_MEMORY_GIB
                                          for az in ("single-az", "multi-az")), "RDS class-deployment"),
}
_ENTRY_KEYS = {"usd", "value", "per", "source"}


@cache
def _shipped_book(region: str) -> dict[str, Any]:
    resource = resources.files("codemate_tfgen").joinpath("data", f"prices-{region}.yaml")
    if not resource.is_file():
        return {}
    return yaml.safe_load(resource.read_text("utf-8"))


def price_book_name(region: str) -> str:
    return f"codemate_tfgen/data/prices-{region}.yaml"


def price_book(region: str, specs_dir: Path) -> dict[str, Any]:
    """The price book of a region with the project's specs/_prices.yaml over it; {} when tfgen
    has no book for the region. Problems in the project's file are SpecErrors naming its lines."""
    shipped = _shipped_book(region)
    path = specs_dir / PRICES_FILE
    if not shipped or not path.is_file():
        return shipped
    document = read_document(path)
    problems = list(_override_problems(document.data, shipped, (), document.value_locations,
                                       document.key_locations, display_path(path)))
    if problems:
        raise SpecError(problems)
    return _overlay(shipped, {key: value for key, value in document.data.items() if key != "source"})


def _overlay(base: Any, top: Any) -> Any:
    """Mappings merge key by key; an entry, a list or a value in `top` replaces the base's."""
    if isinstance(base, dict) and isinstance(top, dict) and not _is_entry(base):
        return {**base, **{key: _overlay(base[key], value) if key in base else value for key, value in top.items()}}
    return top


def _is_entry(node: Any) -> bool:
    return isinstance(node, dict) and ("usd" in node or "value" in node)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _override_problems(top: Any, base: Any, path: JsonPath, values: dict[JsonPath, Location],
                       keys: dict[JsonPath, Location], file: str) -> Iterator[SpecProblem]:
    """What is wrong in a project's price file, each at its line: a name the book does not have,
    a class the spec rules refuse, an entry without a non-negative price."""
    def problem(at: JsonPath, message: str, *, key: bool = False) -> SpecProblem:
        table = keys if key else values
        return SpecProblem(table.get(at) or values.get(at) or Location(file, 1, 1), format_path(at), message)

    if path == ():
        if "source" in top and not isinstance(top["source"], str):
            yield problem(("source",), "must be a string: where this file's prices come from")
        top = {key: value for key, value in top.items() if key != "source"}
    if _is_entry(base):
        if not isinstance(top, dict) or not (("usd" in top) ^ ("value" in top)):
            yield problem(path, "must be an entry {usd: PRICE, source: TEXT} (or {value: ...} for a factor)")
            return
        kind = "usd" if "usd" in base else "value"
        for extra in sorted(set(top) - _ENTRY_KEYS):
            yield problem(path + (extra,), f"unknown key; an entry has {', '.join(sorted(_ENTRY_KEYS))}", key=True)
        if kind not in top:
            yield problem(path, f"the book's entry is a {'price (usd)' if kind == 'usd' else 'factor (value)'}; "
                                f"give {kind}")
        elif not _number(top[kind]):
            yield problem(path + (kind,), "must be a number, 0 or more")
        return
    if path in CLASS_TABLES:
        known, what = CLASS_TABLES[path]
        if not isinstance(top, dict):
            yield problem(path, f"must be a mapping of {what} to its entry")
            return
        for name, entry in top.items():
            if name not in known:
                yield problem(path + (name,), f"{name} is not an {what} tfgen knows"
                              + suggestion(str(name), sorted(known)), key=True)
            else:
                yield from _override_problems(entry, {"usd": 0}, path + (name,), values, keys, file)
        return
    if path == ("fargate", "task_hour"):
        yield from _shape_problems(top, path, problem)
        return
    if isinstance(base, dict):
        if not isinstance(top, dict):
            yield problem(path, "must be a mapping, as in the price book")
            return
        for name, value in top.items():
            if name not in base:
                close = closest(str(name), sorted(base))
                hint = f"; did you mean {close!r}?" if close else f" (the book has: {', '.join(base)})"
                yield problem(path + (name,), f"not in the price book{hint}", key=True)
            elif path == () and not isinstance(base[name], dict):
                yield problem(path + (name,), "a price file overrides prices, not the book's settings", key=True)
            else:
                yield from _override_problems(value, base[name], path + (name,), values, keys, file)
        return
    if type(top) is not type(base) or (isinstance(top, list) and not all(isinstance(v, str) for v in top)):
        yield problem(path, f"must be {'a list of names' if isinstance(base, list) else type(base).__name__}, "
                            "as in the price book")


def _shape_problems(top: Any, path: JsonPath, problem: Callable[..., SpecProblem]) -> Iterator[SpecProblem]:
    if not isinstance(top, list):
        yield problem(path, "must be a list of {cpu, memory, usd, source}")
        return
    for index, shape in enumerate(top):
        at = path + (index,)
        if not isinstance(shape, dict) or set(shape) - {"cpu", "memory", "usd", "source"} or not _number(
                shape.get("usd")):
            yield problem(at, "must be {cpu, memory, usd, source} with usd a number, 0 or more")
        elif shape.get("memory") not in FARGATE_MEMORY.get(shape.get("cpu"), []):
            yield problem(at, f"{shape.get('cpu')} CPU / {shape.get('memory')} MiB is not a Fargate task size")


def _d(value: Any) -> Decimal:
    """Decimal of a YAML or JSON number, through its shortest text (0.0344 stays 0.0344)."""
    return Decimal(str(value))


@dataclass
class Inputs:
    """What one estimate is computed from; optimizations change these, never the results."""

    spec: Spec
    data: dict[str, Any]
    usage: dict[str, Any]
    book: dict[str, Any]
    applied: set[str] = field(default_factory=set)
    # What the spec uses that the book has no price for ("not priced" in the estimate).
    unpriced: list[str] = field(default_factory=list)
    # Per service, the running tasks over the month as (tasks, weight) pairs: one pair (the usage
    # figure), or one per schedule interval under scale_in. Spot's share is taken pair by pair:
    # the on-demand base covers the first tasks of each interval, not of the average.
    profiles: dict[str, list[tuple[Decimal, int]]] = field(default_factory=dict)

    @property
    def hours(self) -> Decimal:
        return _d(self.usage["hours_per_month"])

    def u(self, key: str) -> Decimal:
        return _d(self.usage[key])

    def price(self, *keys: str) -> Decimal:
        entry: Any = self.book
        for key in keys:
            entry = entry[key]
        return _d(entry["usd"] if "usd" in entry else entry["value"])

    def priced(self, table: tuple[str, ...], name: str, path: JsonPath) -> Decimal | None:
        """The price of `name` in a class table of the book; None, and a "not priced" note naming
        the spec field, when the book has none."""
        entries: dict[str, Any] = self.book
        for key in table:
            entries = entries[key]
        if name in entries:
            return _d(entries[name]["usd"])
        self.unpriced.append(f"{CLASS_TABLES[table][1]} {name} ({format_path(path)}): no price in the price book")
        return None


def inputs(spec: Spec) -> Inputs:
    region = spec.data["region"]
    book = price_book(region, Path(spec.files[-1]).parent)
    if not book:
        message = f"no price book for {region} ({price_book_name(region)})"
        raise SpecError([spec.problem(("region",), message)])
    usage = with_defaults(copy.deepcopy(spec.data.get("usage", {})), spec_schema()["properties"]["usage"])
    tasks = usage.setdefault("tasks", {})
    for name, service in spec.data["services"].items():
        tasks.setdefault(name, service["desired_count"])
    profiles = {name: [(_d(count), 1)] for name, count in tasks.items() if name in spec.data["services"]}
    return Inputs(spec, with_defaults(copy.deepcopy(spec.data)), usage, book, profiles=profiles)


# --- optimizations ("비용 최적화 전략") ---------------------------------------------------------


def _nat_instance(inp: Inputs) -> None:
    """A NAT instance in place of gateways; a spec that already has one keeps its instance type."""
    nat = inp.data["network"]["nat"]
    if nat["mode"] == "instance":
        return
    nat["mode"] = "instance"
    nat["instance_type"] = inp.book["optimizations"]["nat_instance"]["instance_type"]


def _vpc_endpoints(inp: Inputs) -> None:
    inp.data["security"]["vpc_endpoints"] = True


def _log_filtering(inp: Inputs) -> None:
    factor = inp.price("optimizations", "log_filtering", "log_factor")
    for key in ("log_ingested_gb", "log_stored_gb"):
        inp.usage[key] = inp.u(key) * factor


def _ai_caching(inp: Inputs) -> None:
    keep = 1 - inp.u("ai_caching_reduction")
    for key in ("ai_anthropic_usd", "ai_openai_usd"):
        inp.usage[key] = inp.u(key) * keep


def _scale_in(inp: Inputs) -> None:
    """Auto Scaling tuned ("Auto Scaling 세밀 조정"): each service averages its minimum task count,
    which its schedules ("예약 스케줄링") lower and restore over the price book's year."""
    year = int(inp.book["year"])
    for name, service in inp.data["services"].items():
        tasks = _d(inp.usage["tasks"][name])
        inp.profiles[name] = [(min(tasks, _d(floor)), length)
                              for floor, length in _seconds_at_floor(service, year).items()]


def _average(profile: list[tuple[Decimal, int]], of: Callable[[Decimal], Decimal]) -> Decimal:
    """The weighted mean of `of(tasks)` over a profile, in one division (the exact fraction of
    whole seconds, rounded once)."""
    return sum((of(tasks) * weight for tasks, weight in profile), Decimal(0)) / sum(w for _, w in profile)


def _seconds_at_floor(service: dict[str, Any], year: int) -> dict[int, int]:
    """{min_count: seconds of the UTC year it is in effect}. A schedule's range holds from its
    firing to the next one's; before any firing the service has its own range."""
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    # Firings of the neighbouring local years too: they straddle the UTC year's edges.
    events = sorted((moment, item["min_count"]) for item in service["schedules"]
                    for cron in [schedule.parse(item["cron"])] for local_year in (year - 1, year, year + 1)
                    for moment in schedule.firings(cron, item["timezone"], local_year))
    floor = next((count for moment, count in reversed(events) if moment <= start), service["min_count"])
    seconds: dict[int, int] = {}
    previous = start
    for moment, count in [*(event for event in events if start < event[0] < end), (end, floor)]:
        seconds[floor] = seconds.get(floor, 0) + int((moment - previous).total_seconds())
        previous, floor = moment, count
    return seconds


# free_tier and reserved_instances change the prices in effect; the line functions read `applied`.
APPLY: dict[str, Callable[[Inputs], None]] = {
    "free_tier": lambda inp: None,
    "reserved_instances": lambda inp: None,
    "nat_instance": _nat_instance,
    "vpc_endpoints": _vpc_endpoints,
    "log_filtering": _log_filtering,
    "ai_caching": _ai_caching,
    "scale_in": _scale_in,
}


def resolve_scenario(spec: Spec, scenario: tuple[str, ...]) -> tuple[str, ...]:
    """The optimizations a scenario means for this environment, in the document's order."""
    names: set[str] = set()
    for name in scenario:
        if name == "optimized":
            names.update(spec.data.get("usage", {}).get("optimizations", []))
        elif name in OPTIMIZATIONS:
            names.add(name)
        elif name != "baseline":
            raise UsageError(f"unknown scenario {name!r} (baseline, optimized, {', '.join(OPTIMIZATIONS)})")
    return tuple(name for name in OPTIMIZATIONS if name in names)


# --- line items -----------------------------------------------------------------------------


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _hourly(category: str, service: str, item: str, spec: str, hourly: Decimal, hours: Decimal) -> Line:
    return Line(category, service, item, spec, hourly, _money(hourly * hours))


def _flat(category: str, service: str, item: str, spec: str, monthly: Decimal) -> Line:
    return Line(category, service, item, spec, None, _money(monthly))


def _n(value: Any) -> str:
    """A quantity as people write it: 3, 0.5, 1,000; 1.45 for an average with more decimals."""
    number = _money(_d(value)).normalize()
    return f"{number:,f}" if number == number.to_integral() else f"{number:f}"


def _plural(value: Any, word: str) -> str:
    return f"{_n(value)} {word}" + ("" if _d(value) == 1 else "s")


def compute_lines(inp: Inputs) -> Iterator[Line]:
    for name, service in inp.data["services"].items():
        tasks = _average(inp.profiles[name], lambda count: count)
        vcpu, gb = _n(Decimal(service["cpu"]) / 1024), _n(Decimal(service["memory"]) / 1024)
        spot = _average(inp.profiles[name], functools.partial(_spot_tasks, service.get("capacity")))
        on_spot = f" ({_n(spot)} on Fargate Spot)" if spot else ""
        spec = f"{vcpu} vCPU, {gb}GB RAM x {_plural(tasks, 'task')}{on_spot}"
        task_hour = _task_hour(inp, service["cpu"], service["memory"])
        hourly = task_hour * (tasks - spot) + task_hour * (1 - inp.price("fargate", "spot_discount")) * spot
        yield _hourly("compute", "ECS Fargate", name.capitalize(), spec, hourly, inp.hours)
    if "bastion" in inp.data:
        yield from _ec2_line(inp, "compute", "EC2", "Bastion host", 1, ("bastion", "instance_type"))


def _task_hour(inp: Inputs, cpu: int, memory: int) -> Decimal:
    """A task's price an hour: its shape's in the book if listed, else per vCPU and GB (x86)."""
    for shape in inp.book["fargate"]["task_hour"]:
        if (shape["cpu"], shape["memory"]) == (cpu, memory):
            return _d(shape["usd"])
    return (Decimal(cpu) / 1024 * inp.price("fargate", "x86", "vcpu_hour")
            + Decimal(memory) / 1024 * inp.price("fargate", "x86", "gb_hour"))


def _spot_tasks(capacity: dict[str, Any] | None, tasks: Decimal) -> Decimal:
    """Of `tasks` running tasks, how many ECS places on Fargate Spot: none of the base, the
    spot share of the rest."""
    if capacity is None or capacity["spot_weight"] == 0:
        return Decimal(0)
    beyond = max(Decimal(0), tasks - capacity["on_demand_base"])
    return beyond * capacity["spot_weight"] / (capacity["on_demand_weight"] + capacity["spot_weight"])


def _ec2_line(inp: Inputs, category: str, service: str, item: str, count: int, path: JsonPath,
              suffix: str = "") -> Iterator[Line]:
    """Instances priced by the hour (the price book's ec2 table), the free tier's hours off;
    `suffix` ends the line's spec text. No line for a type the book has no price for."""
    kind: Any = inp.data
    for key in path:
        kind = kind[key]
    hourly = inp.priced(("ec2", "instance_hour"), kind, path)
    if hourly is None:
        return
    hours = inp.hours * count
    note = ""
    if "free_tier" in inp.applied and kind in inp.book["optimizations"]["free_tier"]["ec2_types"]:
        free = min(hours, inp.price("optimizations", "free_tier", "ec2_hours"))
        note, hours = f", free tier {_n(free)}h", hours - free
    yield _flat(category, service, item, f"{count} x {kind}{note}{suffix}", hourly * hours)


def database_lines(inp: Inputs) -> Iterator[Line]:
    db = inp.data["database"]
    yield from _rds_instance(inp, db)
    storage = Decimal(db["allocated_storage"])
    free = Decimal(0)
    if "free_tier" in inp.applied and _rds_free(inp, db):
        free = min(storage, inp.price("optimizations", "free_tier", "rds_storage_gb"))
    note = f" ({_n(free)}GB free tier)" if free else ""
    gb_month = inp.price("rds", "gp3_gb_month")
    # Multi-AZ keeps a standby's copy of the storage; a price file may count it once, as the design
    # document does (factor 1).
    copies = inp.price("rds", "multi_az_storage_factor") if db["multi_az"] else Decimal(1)
    if copies != 1:
        note += f", Multi-AZ x {_n(copies)}"
    yield _flat("database", "RDS PostgreSQL", "Storage", f"{_n(storage)}GB gp3{note}",
                (storage - free) * gb_month * copies)
    if inp.u("rds_backup_gb") > 0:
        spec = f"{_n(inp.u('rds_backup_gb'))}GB x {db['backup_retention_days']} days retention"
        yield _flat("database", "RDS PostgreSQL", "Backup", spec,
                    inp.u("rds_backup_gb") * inp.price("rds", "backup_gb_month"))
        if "cross_region_backup" in db:
            backup = db["cross_region_backup"]
            spec = (f"{_n(inp.u('rds_backup_gb'))}GB in {backup['region']} x {backup['retention_days']} days "
                    "(transfer not priced)")
            yield _flat("database", "RDS PostgreSQL", "Cross-region backup", spec,
                        inp.u("rds_backup_gb") * inp.price("rds", "backup_gb_month"))
    if "read_replicas" in db:
        yield from _rds_replicas(inp, db)
    yield from _cache_nodes(inp)


def _rds_replicas(inp: Inputs, db: dict[str, Any]) -> Iterator[Line]:
    """Single-AZ instances of their own class, each with storage the size of the primary's."""
    replicas = db["read_replicas"]
    cls, count = replicas["instance_class"], replicas["count"]
    hourly = inp.priced(("rds", "instance_hour"), cls, ("database", "read_replicas", "instance_class"))
    spec = f"{cls}, Single-AZ x {count}"
    if hourly is not None and "reserved_instances" in inp.applied:
        yield _flat("database", "RDS PostgreSQL", "Read replicas", f"{spec}, reserved 1 year",
                    _reserved(inp, "rds", f"{cls}-single-az", hourly) * count)
    elif hourly is not None:
        yield _hourly("database", "RDS PostgreSQL", "Read replicas", spec, hourly * count, inp.hours)
    storage = Decimal(db["allocated_storage"]) * count
    yield _flat("database", "RDS PostgreSQL", "Replica storage", f"{_n(storage)}GB gp3",
                storage * inp.price("rds", "gp3_gb_month"))


def _rds_free(inp: Inputs, db: dict[str, Any]) -> bool:
    eligible = inp.book["optimizations"]["free_tier"]["rds_classes"]
    return not db["multi_az"] and db["instance_class"] in eligible


def _rds_instance(inp: Inputs, db: dict[str, Any]) -> Iterator[Line]:
    cls = db["instance_class"]
    hourly = inp.priced(("rds", "instance_hour"), cls, ("database", "instance_class"))
    if hourly is None:
        return
    az = "Multi-AZ" if db["multi_az"] else "Single-AZ"
    if db["multi_az"]:
        hourly *= inp.price("rds", "multi_az_factor")
    if "reserved_instances" in inp.applied:
        monthly = _reserved(inp, "rds", f"{cls}-{az.lower()}", hourly)
        yield _flat("database", "RDS PostgreSQL", "Instance", f"{cls}, {az}, reserved 1 year", monthly)
    elif "free_tier" in inp.applied and _rds_free(inp, db):
        free = min(inp.hours, inp.price("optimizations", "free_tier", "rds_hours"))
        yield _flat("database", "RDS PostgreSQL", "Instance", f"{cls}, {az}, free tier {_n(free)}h",
                    hourly * (inp.hours - free))
    else:
        yield _hourly("database", "RDS PostgreSQL", "Instance", f"{cls}, {az}", hourly, inp.hours)


def _reserved(inp: Inputs, service: str, name: str, on_demand_hourly: Decimal) -> Decimal:
    """The document's reserved price where it gives one, else its maximum discount off on-demand."""
    scale = inp.hours / _d(inp.book["hours_per_month"])
    table = inp.book[service]["reserved_month"]
    if name in table:
        return _d(table[name]["usd"]) * scale
    return on_demand_hourly * inp.hours * (1 - inp.price(service, "reserved_discount"))


def _cache_nodes(inp: Inputs) -> Iterator[Line]:
    cache_spec = inp.data["cache"]
    node = cache_spec["node_type"]
    hourly = inp.priced(("elasticache", "node_hour"), node, ("cache", "node_type"))
    if hourly is None:
        return
    nodes = cache_spec["num_shards"] * (1 + cache_spec["replicas_per_shard"])
    layout = " (cluster)" if cache_spec["cluster_mode"] else ""
    item = "Nodes"
    if "reserved_instances" in inp.applied:
        monthly = _reserved(inp, "elasticache", node, hourly) * nodes
        yield _flat("database", "ElastiCache Redis", item, f"{node} x {nodes}{layout}, reserved 1 year", monthly)
    else:
        yield _hourly("database", "ElastiCache Redis", item, f"{node} x {nodes}{layout}", hourly * nodes,
                      inp.hours)


def networking_lines(inp: Inputs) -> Iterator[Line]:
    yield _hourly("networking", "ALB", "Load Balancer", "1 ALB", inp.price("alb", "hour"), inp.hours)
    yield _hourly("networking", "ALB", "LCU", f"average {_n(inp.u('alb_lcu'))} LCU",
                  inp.u("alb_lcu") * inp.price("alb", "lcu_hour"), inp.hours)
    yield from _nat_lines(inp)
    zones = len(inp.data["network"]["availability_zones"])
    if inp.data["security"]["vpc_endpoints"]:
        interface = len(INTERFACE_ENDPOINTS)
        hourly = inp.price("vpc_endpoints", "gateway_hour") + interface * zones * inp.price(
            "vpc_endpoints", "interface_hour")
        spec = f"S3 gateway + {interface} interface x {zones} AZs"
        yield _hourly("networking", "VPC Endpoints", "Endpoints", spec, hourly, inp.hours)
    if inp.data["cdn"]["enabled"]:
        gb, requests = inp.u("cloudfront_data_gb"), inp.u("cloudfront_requests_millions")
        yield _flat("networking", "CloudFront", "Data Transfer", f"{_n(gb)}GB",
                    gb * inp.price("cloudfront", "data_gb"))
        yield _flat("networking", "CloudFront", "Requests", f"{_n(requests)}M HTTP/HTTPS",
                    requests * inp.price("cloudfront", "requests_per_million"))


def _nat_lines(inp: Inputs) -> Iterator[Line]:
    network = inp.data["network"]
    nat = network["nat"]
    count = len(network["availability_zones"]) if nat["per_az"] else 1
    if nat["mode"] == "instance":
        yield from _ec2_line(inp, "networking", "NAT Instance", "Instances", count,
                             ("network", "nat", "instance_type"), " (no per-GB charge)")
        return
    layout = " (Multi-AZ)" if count > 1 else ""
    yield _hourly("networking", "NAT Gateway", "Gateways",
                  f"{_plural(count, 'NAT Gateway')}{layout}", inp.price("nat", "gateway_hour") * count,
                  inp.hours)
    gb = inp.u("nat_data_gb")
    if inp.data["security"]["vpc_endpoints"]:
        gb -= inp.u("aws_service_data_gb")
    yield _flat("networking", "NAT Gateway", "Data Transfer", f"{_n(gb)}GB outbound",
                gb * inp.price("nat", "gateway_data_gb"))


def other_lines(inp: Inputs) -> Iterator[Line]:
    s3_class = inp.usage["s3_storage_class"]
    gb_month = inp.price("s3", "storage_gb_month", s3_class)
    if "intelligent_tiering" in inp.data["storage"]:
        s3_class = "Intelligent-Tiering (monitoring not priced)"
        gb_month = inp.price("s3", "storage_gb_month", "standard") * inp.price("s3", "intelligent_tiering_factor")
    yield _flat("other", "S3", "Storage", f"{_n(inp.u('s3_storage_gb'))}GB {s3_class}",
                inp.u("s3_storage_gb") * gb_month)
    yield _flat("other", "S3", "Requests", f"{_n(inp.u('s3_requests'))} PUT/GET",
                inp.u("s3_requests") / 1000 * inp.price("s3", "requests_per_1000"))
    yield _flat("other", "ECR", "Image storage", f"{_n(inp.u('ecr_storage_gb'))}GB",
                inp.u("ecr_storage_gb") * inp.price("ecr", "storage_gb_month"))
    yield from _cloudwatch_lines(inp)
    zones, queries = inp.u("route53_hosted_zones"), inp.u("route53_queries_millions")
    spec = _plural(zones, "hosted zone") + (f" + {_n(queries)}M queries" if queries else "")
    yield _flat("other", "Route 53", "Hosted zones", spec,
                zones * inp.price("route53", "hosted_zone_month")
                + queries * inp.price("route53", "queries_per_million"))
    yield _flat("other", "Secrets Manager", "Secrets", _plural(inp.u("secret_count"), "secret"),
                inp.u("secret_count") * inp.price("secrets_manager", "secret_month"))
    yield _flat("other", "ACM", "Certificates", "public SSL certificate",
                inp.price("acm", "public_certificate"))


def _cloudwatch_lines(inp: Inputs) -> Iterator[Line]:
    ingested, stored = inp.u("log_ingested_gb"), inp.u("log_stored_gb")
    metrics = inp.u("custom_metrics")
    free_logs = free_metrics = Decimal(0)
    if "free_tier" in inp.applied:
        free_logs = min(ingested, inp.price("optimizations", "free_tier", "log_ingest_gb"))
        free_metrics = min(metrics, inp.price("optimizations", "free_tier", "custom_metrics"))
    note = f" ({_n(free_logs)}GB free tier)" if free_logs else ""
    yield _flat("other", "CloudWatch", "Logs", f"{_n(ingested)}GB ingested + {_n(stored)}GB stored{note}",
                (ingested - free_logs) * inp.price("cloudwatch", "log_ingest_gb")
                + stored * inp.price("cloudwatch", "log_storage_gb_month"))
    spec = f"{_plural(metrics, 'custom metric')}" if metrics else "basic metrics (free)"
    yield _flat("other", "CloudWatch", "Metrics", spec,
                (metrics - free_metrics) * inp.price("cloudwatch", "custom_metric_month"))
    if inp.u("dashboards"):
        yield _flat("other", "CloudWatch", "Dashboards", _plural(inp.u("dashboards"), "dashboard"),
                    inp.u("dashboards") * inp.price("cloudwatch", "dashboard_month"))
    if inp.u("alarms"):
        yield _flat("other", "CloudWatch", "Alarms", _plural(inp.u("alarms"), "alarm"),
                    inp.u("alarms") * inp.price("cloudwatch", "alarm_month"))


def ai_lines(inp: Inputs) -> Iterator[Line]:
    note = " after caching" if "ai_caching" in inp.applied else ""
    yield _flat("ai", "AI services", "Anthropic Claude", f"API spend{note}", inp.u("ai_anthropic_usd"))
    if inp.u("ai_openai_usd"):
        yield _flat("ai", "AI services", "GPT (backup)", f"API spend{note}", inp.u("ai_openai_usd"))


def cicd_lines(inp: Inputs) -> Iterator[Line]:
    pipelines, minutes = inp.u("codepipeline_pipelines"), inp.u("codebuild_minutes")
    yield _flat("cicd", "CodePipeline", "Pipelines", _plural(pipelines, "pipeline"),
                pipelines * inp.price("codepipeline", "pipeline_month"))
    yield _flat("cicd", "CodeBuild", "Build minutes", f"{_n(minutes)} minutes a month",
                minutes * inp.price("codebuild", "build_minute"))


SECTIONS = (compute_lines, database_lines, networking_lines, other_lines, ai_lines, cicd_lines)
# The document's table order.
SERVICE_ORDER = ("ECS Fargate", "EC2", "RDS PostgreSQL", "ElastiCache Redis", "S3", "ECR", "ALB", "NAT Gateway",
                 "NAT Instance", "VPC Endpoints", "CloudFront", "CloudWatch", "Route 53", "Secrets Manager",
                 "ACM", "AI services", "CodePipeline", "CodeBuild")


def estimate(spec: Spec, scenario: tuple[str, ...] = ("baseline",)) -> Estimate:
    """The monthly cost of one validated spec under a scenario."""
    applied = resolve_scenario(spec, scenario)
    inp = inputs(spec)
    for name in applied:
        inp.applied.add(name)
        APPLY[name](inp)
    lines = tuple(sorted((line for section in SECTIONS for line in section(inp)),
                         key=lambda line: SERVICE_ORDER.index(line.service)))
    budget = spec.data.get("budget", {}).get("monthly_limit_usd")
    return Estimate(spec.name, "+".join(scenario), applied, inp.hours, lines,
                    None if budget is None else _d(budget), (*inp.unpriced, *not_priced(inp)))


def not_priced(inp: Inputs) -> Iterator[str]:
    """Charges the infrastructure incurs that no line prices: no usage figure or no price for them."""
    data = inp.data
    yield "data transfer out to the internet (beyond CloudFront's) and between availability zones"
    yield "public IPv4 addresses (NAT gateways' and public instances' Elastic IPs)"
    yield "KMS keys and requests; Secrets Manager, S3 and CloudWatch API calls beyond the usage figures"
    yield "AI usage beyond the usage.ai_* spend figures (model APIs and any Bedrock use: tfgen cannot know it)"
    if data["account"].get("baseline"):
        yield "CloudTrail and GuardDuty (account.baseline)"
    if data["security"].get("flow_logs"):
        yield "VPC flow logs (delivery and storage)"
    if data["security"]["vpc_endpoints"]:
        yield "data processed by the VPC interface endpoints (per GB)"
    if "bastion" in data or data["network"]["nat"]["mode"] == "instance":
        yield "EC2 root volumes (EBS) of the bastion host and NAT instances"
    if "intelligent_tiering" in data["storage"]:
        yield "S3 Intelligent-Tiering monitoring (per object)"
    if "cross_region_backup" in data["database"]:
        yield "cross-region transfer of the replicated backups"
    if "budget" in data:
        yield "AWS Budgets alerts"


# --- the reference of --against -------------------------------------------------------------


def reference_estimates(ref: str, specs_dir: Path, names: list[str],
                        scenario: tuple[str, ...]) -> dict[str, Estimate | None]:
    """The estimates to compare with: of another spec file (with the price file beside it), or of
    the specs directory at a git revision (with that revision's price file).

    An environment that has no spec at the revision maps to None (everything in it is new).
    Problems in a revision's files are reported as `REF:specs/<file>`.
    """
    path = Path(ref)
    if path.suffix == ".yaml" and path.is_file():
        if len(names) != 1:
            raise ValueRefused(f"{ref}: a spec file compares with one environment; name it")
        spec = load_spec(path.parent, path.stem, bases=specs_dir)
        validate(spec)
        return dict.fromkeys(names, estimate(spec, scenario))
    where, texts = gitrefs.yaml_files_at(ref, specs_dir)
    with tempfile.TemporaryDirectory(prefix="tfgen-cost-") as temp:
        for name, text in texts.items():
            (Path(temp) / name).write_text(text, "utf-8")
        out: dict[str, Estimate | None] = {}
        for name in names:
            if f"{name}.yaml" not in texts:
                out[name] = None
                continue
            try:
                # Each spec alone, as `validate` checks one: a revision's other environments (or
                # rules added since) do not stop the comparison. Inside the temporary directory,
                # the revision's price file is read beside its specs.
                spec = load_spec(Path(temp), name)
                validate(spec)
                out[name] = estimate(spec, scenario)
            except SpecError as exc:
                raise SpecError([_at_ref(p, temp, where) for p in exc.problems]) from None
        return out


def _at_ref(problem: SpecProblem, temp: str, where: str) -> SpecProblem:
    file, shown = problem.location.file, display_path(Path(temp))
    if file.startswith(shown):
        file = where + file[len(shown):]
    return SpecProblem(Location(file, problem.location.line, problem.location.column), problem.path,
                       problem.message)
