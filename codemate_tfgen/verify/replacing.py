"""Spec changes that would destroy and recreate a stateful resource, named before they are written.

REPLACING is the one table of which spec fields reach an argument the AWS provider (hashicorp/aws
6.x) marks ForceNew, or otherwise destroys state through, on the resources that hold data: the
database and its replicas, the cache, the buckets, the KMS keys, the ECR repositories and the
Terraform state itself. `tfgen render` and `tfgen check` compare each environment's spec with
the terraform.tfvars the tree on disk holds (what was last rendered and committed) and report
every such change with the resource it replaces and the safe way to make it; `render` refuses
it for a protected environment (database deletion protection on) without --allow-replace.

Arguments that are updated in place are deliberately absent: the instance's identifier (renamed
in place since provider 5.0), its class, storage, Multi-AZ and engine_version upwards (a major
upgrade is an in-place spec change), the cache's node type, shards and replicas. The database's
engine_version has rules of its own (ENGINE_DOWNGRADE, DEFERRED_MAJOR_UPGRADE): nothing is
replaced, but the apply fails or leaves the tree unappliable, so they are refused everywhere.

A field removed from the spec (a section such as cross_region_backup taken out) is a change
too: what it reached is destroyed. `forces` names, per field, the (resource type, argument)
pairs the provider marks ForceNew; the offline harness's REPLACE_FORCING (tests/terraform_harness)
must hold each of them, which tests/test_operations.py checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from codemate_tfgen import hcl
from codemate_tfgen.layout import ROOT
from codemate_tfgen.render.context import Context
from codemate_tfgen.spec.load import JsonPath, Spec, format_path

NEW_ENVIRONMENT = ("stand up a new environment with the new value (a spec of its own), move the data into it "
                   "by snapshot restore (docs/operations.md), switch DNS, then destroy and retire this one")


@dataclass(frozen=True)
class Replacing:
    field: JsonPath  # the spec field
    when: Literal["changed", "lowered", "key removed"]
    resources: str  # what is destroyed and created again
    argument: str  # the replace-forcing argument the field reaches
    safe_way: str
    # (resource type, argument) the provider marks ForceNew that the field reaches; empty where the
    # loss comes another way (a for_each key, the backend, a downgrade, a change AWS refuses)
    forces: tuple[tuple[str, str], ...] = ()
    # Refused without --allow-replace in every environment, not only a protected one: what it
    # breaks is the running service, which deletion protection says nothing about.
    everywhere: bool = False
    # What the change does to `resources`, as the message says it.
    effect: str = "destroys and recreates"


REPLACING: tuple[Replacing, ...] = (
    Replacing(("region",), "changed",
              "every resource of the environment, among them module.rds.aws_db_instance.this, "
              "module.elasticache.aws_elasticache_replication_group.this, the buckets, the KMS keys and the ECR "
              "repositories", "region (each resource's, from the provider)", NEW_ENVIRONMENT),
    Replacing(("project",), "changed",
              "module.rds.aws_db_subnet_group.this (RDS refuses to delete the subnet group its instance is in, so "
              "the apply fails; the instance would have to move with it), "
              "module.elasticache.aws_elasticache_replication_group.this with "
              "module.elasticache.aws_elasticache_subnet_group.this, module.s3.aws_s3_bucket.files (and "
              "module.s3.aws_s3_bucket.files_replica[0], with a disaster-recovery region), "
              "module.s3.aws_s3_bucket.logs, module.codepipeline.aws_s3_bucket.artifacts, "
              "module.ecr.aws_ecr_repository.this, module.alb.aws_lb.this (refused while its deletion protection "
              "is on), module.cloudwatch.aws_cloudwatch_log_group.this and "
              "module.cloudwatch.aws_cloudwatch_log_group.rds (the logs) and "
              "module.secrets.aws_secretsmanager_secret.this (the values set in them)",
              "replication_group_id, bucket and name (they carry the project)",
              "keep the project's name in the spec (tags can carry a new one); " + NEW_ENVIRONMENT,
              (("aws_db_subnet_group", "name"), ("aws_elasticache_replication_group", "replication_group_id"),
               ("aws_elasticache_subnet_group", "name"), ("aws_s3_bucket", "bucket"), ("aws_ecr_repository", "name"),
               ("aws_lb", "name"), ("aws_cloudwatch_log_group", "name"), ("aws_secretsmanager_secret", "name"))),
    Replacing(("database", "database_name"), "changed",
              "module.rds.aws_db_instance.this and its read replicas", "db_name",
              "keep the spec's value: create the new database inside the instance (CREATE DATABASE as the master "
              "user), copy the data (pg_dump | pg_restore) and point the services at it",
              (("aws_db_instance", "db_name"),)),
    Replacing(("database", "cross_region_backup", "region"), "changed",
              "module.rds.aws_kms_key.backup_replica[0] and "
              "module.rds.aws_db_instance_automated_backups_replication.this[0]: the backups replicated so far "
              "stay only as long as their old key, which is scheduled for deletion; and "
              "module.s3.aws_s3_bucket.files_replica[0] with the replicated user files (a protected environment's "
              "apply stops at it: a bucket holding files is not deleted)",
              "region (the key's; the replication's kms_key_id with it) and bucket (the replica's name carries "
              "the region)",
              "keep the old key and replica: before applying, `terraform state rm "
              "'module.rds.aws_kms_key.backup_replica[0]'` (and its alias) and every module.s3 address ending in "
              "files_replica[0] so the destroy leaves them; "
              "copy the old replica's files into the new one (aws s3 sync), delete the key after the old backups' "
              "retention",
              (("aws_db_instance_automated_backups_replication", "kms_key_id"), ("aws_s3_bucket", "bucket"))),
    Replacing(("database", "cross_region_backup", "retention_days"), "changed",
              "module.rds.aws_db_instance_automated_backups_replication.this[0] (replication stops, then starts "
              "again from the newest backup)", "retention_period",
              "apply it right after a backup window, when the newest backup is recent",
              (("aws_db_instance_automated_backups_replication", "retention_period"),)),
    Replacing(("cache", "engine_version"), "lowered",
              "module.elasticache.aws_elasticache_replication_group.this (sessions and cached data)",
              "engine_version (ElastiCache cannot downgrade)",
              "keep the version; to go back, restore a snapshot taken before the upgrade into a new replication "
              "group"),
    Replacing(("cache", "cluster_mode"), "changed",
              "module.elasticache.aws_elasticache_replication_group.this (sessions and cached data): ElastiCache "
              "changes a group's cluster mode only from disabled through compatible to enabled, never back, so the "
              "apply fails; only a new group has the other mode",
              "cluster_mode (ModifyReplicationGroup refuses the change)",
              "keep the mode; to change it, in a quiet hour: `scripts/plan.sh ENV "
              "-replace=module.elasticache.aws_elasticache_replication_group.this`, then scripts/apply.sh ENV "
              "(every session ends; the final snapshot keeps the old data)"),
    Replacing(("network", "vpc_cidr"), "changed",
              "module.vpc.aws_vpc.this and everything in it (module.vpc.aws_subnet.* among them); the database and "
              "the cache cannot leave their subnets, so the apply fails halfway", "cidr_block", NEW_ENVIRONMENT,
              (("aws_vpc", "cidr_block"),)),
    Replacing(("network", "availability_zones"), "changed",
              "module.vpc.aws_subnet.* of the changed zones, which hold the database and the cache: the apply fails "
              "halfway", "availability_zone", NEW_ENVIRONMENT, (("aws_subnet", "availability_zone"),)),
    Replacing(("network", "private_db_subnets"), "changed",
              "module.vpc.aws_subnet.private_db, which holds the database and the cache: the apply fails halfway",
              "cidr_block", NEW_ENVIRONMENT, (("aws_subnet", "cidr_block"),)),
    Replacing(("services",), "key removed",
              "module.ecr.aws_ecr_repository.this[\"<service>\"] with every image in it, and the service's log "
              "group module.cloudwatch.aws_cloudwatch_log_group.this[\"<service>\"]", "for_each key",
              "keep the service with desired_count, min_count and max_count 0 until its images and logs are no "
              "longer needed"),
    Replacing(("backend", "bucket"), "changed",
              "the Terraform state: the new bucket holds none, so the next plan would create every resource again "
              "beside the live ones", "backend bucket",
              "after rendering, run scripts/migrate-state.sh ENV, which copies the state into the new backend"),
    Replacing(("backend", "region"), "changed",
              "the Terraform state: the bucket in the new region holds none, so the next plan would create every "
              "resource again beside the live ones", "backend region",
              "after rendering, run scripts/migrate-state.sh ENV, which copies the state into the new backend"),
)


# A blue/green service's port reaches its two target groups' `port` (ForceNew): both are replaced,
# and the weighted listener rules with them (ECS owns their action, so Terraform can only create
# them again, forwarding 100/0 to the new pair). The new groups hold no task until ECS's
# deployment registers the new ones in the alternate group and moves the production weight:
# until then every request to the service's paths gets a 503. Checked per service, only where
# the service is blue/green before or after the change (a rolling service's rule is updated in
# place with its group).
BLUE_GREEN_PORT = Replacing(
    ("services", "<service>", "port"), "changed",
    "module.alb.aws_lb_target_group.this[\"<service>\"] and [\"<service>-green\"] with the service's production and "
    "test listener rules, which then send all of its traffic to the new, empty primary group: 503s until ECS's "
    "deployment has registered the new tasks and moved the traffic", "port",
    "keep the port (it is internal to the task: the listeners stay on 443); or accept that outage of the "
    "service's paths and render with --allow-replace, then apply in a quiet hour (docs/runtime.md)",
    everywhere=True)


# RDS cannot downgrade an instance's engine (ModifyDBInstance refuses a lower version): the apply
# fails. Going back is a restore of a snapshot taken before the upgrade, into a new instance.
ENGINE_DOWNGRADE = Replacing(
    ("database", "engine_version"), "lowered",
    "module.rds.aws_db_instance.this (the apply fails; RDS upgrades its read replicas with it and downgrades "
    "neither)", "engine_version: RDS cannot downgrade an engine",
    "keep the version; to go back, restore a snapshot taken before the upgrade into a new instance "
    "(docs/operations.md, \"Disaster recovery\"), import it, then render the lower version with --allow-replace",
    everywhere=True, effect="is refused by RDS for")

# A major upgrade moves the instance and its replicas to the new family's parameter groups, and
# the old ones are deleted after them (create_before_destroy). Deferred to the maintenance
# window (apply_immediately false), the instance is still in the old group when Terraform
# deletes it: RDS refuses (InvalidDBParameterGroupState) and every later apply fails the same way.
# RDS upgrades in-region read replicas with their primary; the replicas set no engine_version
# (the provider leaves it computed, and RDS refuses a major upgrade of a PostgreSQL replica).
DEFERRED_MAJOR_UPGRADE = Replacing(
    ("database", "engine_version"), "changed",
    "module.rds.aws_db_instance.this and its read replicas, deferred to the maintenance window while their old "
    "parameter groups are deleted now: RDS refuses to delete a group an instance still uses, and every later "
    "apply fails", "allow_major_version_upgrade with apply_immediately false",
    "set database.apply_immediately: true in the same change and apply it in a quiet hour (the instance and its "
    "replicas restart for the upgrade), then remove it again (docs/operations.md, \"Major PostgreSQL upgrades\")",
    everywhere=True, effect="breaks the apply of")


def applies_immediately(database: dict[str, Any], teardown: Any) -> bool:
    """database.apply_immediately as the root module applies it: unset, it follows teardown (the
    coalesce in templates/environments/main/data.tf.j2; tests/test_lifecycle.py checks the two agree)."""
    value = database.get("apply_immediately")
    return value if value is not None else teardown == "disposable"


def _engine_changes(before: dict[JsonPath, Any], after: dict[JsonPath, Any]) -> Iterator[tuple[Replacing, Any, Any]]:
    """(rule, old, new) of a database engine_version change RDS refuses or that breaks the apply."""
    had, old = _lookup(before, ENGINE_DOWNGRADE.field)
    has, new = _lookup(after, ENGINE_DOWNGRADE.field)
    if not (had and has) or old == new:
        return
    if _version(new) < _version(old):
        yield ENGINE_DOWNGRADE, old, new
    elif _version(new)[:1] != _version(old)[:1] and not applies_immediately(_lookup(after, ("database",))[1] or {},
                                                                              _lookup(after, ("teardown",))[1]):
        yield DEFERRED_MAJOR_UPGRADE, old, new


def _strategy(service: Any) -> str:
    deployment = service.get("deployment") if isinstance(service, dict) else None
    return deployment.get("strategy", "rolling") if isinstance(deployment, dict) else "rolling"


def _blue_green_ports(before: dict[JsonPath, Any], after: dict[JsonPath, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(service, old port, new port) of every blue/green service whose port changes."""
    old_services = _lookup(before, ("services",))[1] or {}
    new_services = _lookup(after, ("services",))[1] or {}
    for name in sorted(set(old_services) & set(new_services)):
        old, new = old_services[name], new_services[name]
        if not (isinstance(old, dict) and isinstance(new, dict)) or old.get("port") == new.get("port"):
            continue
        if "blue_green" in (_strategy(old), _strategy(new)) and None not in (old.get("port"), new.get("port")):
            yield name, old["port"], new["port"]


@dataclass(frozen=True)
class Replacement:
    env: str
    where: str  # file:line:col of the field in the spec
    path: str  # the field, as $.a.b
    old: Any
    new: Any
    rule: Replacing
    protected: bool  # the environment's database has deletion protection

    @property
    def refused(self) -> bool:
        """Refused without --allow-replace."""
        return self.protected or self.rule.everywhere

    def __str__(self) -> str:
        change = f"{self.old!r} removed" if self.new is None else f"{self.old!r} -> {self.new!r}"
        return (f"{self.where}: {self.path}: {change} in {self.env} {self.rule.effect} {self.rule.resources} "
                f"({self.rule.argument}); the safe way: {self.rule.safe_way}")


def _plain(value: Any) -> Any:
    """A value python-hcl2 read back, as the spec wrote it (strings without their quotes)."""
    if isinstance(value, str):
        return hcl.unquote(value) if value.startswith('"') else value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if not key.startswith("__")}
    return value


def _committed(out: Path, env: str) -> dict[JsonPath, Any] | None:
    """The spec's sections as the tree on disk holds them (its terraform.tfvars and backend.tf),
    by spec path, or None for a new environment."""
    folder = out / ROOT / "environments" / env
    if not (folder / "terraform.tfvars").is_file():
        return None
    texts = {name: (folder / name).read_text("utf-8") for name in ("terraform.tfvars", "backend.tf")
             if (folder / name).is_file()}
    parsed = hcl.parse_all(list(texts.values()), hcl.parse_cache(), jobs=1)
    data = {name: parsed[text] for name, text in texts.items() if not isinstance(parsed[text], hcl.ParseFailure)}
    if "terraform.tfvars" not in data:
        return None  # not Terraform tfgen wrote: `check` reports the file itself
    sections: dict[JsonPath, Any] = {("$variable", name): value
                                     for name, value in _plain(data["terraform.tfvars"]).items()}
    if "backend.tf" in data:
        terraform = _plain(data["backend.tf"])["terraform"]
        sections[("backend",)] = next(iter(terraform[0]["backend"][0].values()))
    return sections


def _by_spec(context: Context, sections: dict[JsonPath, Any]) -> dict[JsonPath, Any]:
    """Root variables (keyed ("$variable", name)) re-keyed by the spec path they carry. The first
    variable of a path is the one carrying it; later ones are derived from it (the ELB account of
    the region), so they never take its place."""
    found = {path: value for path, value in sections.items() if path[0] != "$variable"}
    for variable in context.variables:
        if variable.spec_path and ("$variable", variable.name) in sections:
            found.setdefault(variable.spec_path, sections[("$variable", variable.name)])
    return found


def _lookup(sections: dict[JsonPath, Any], field: JsonPath) -> tuple[bool, Any]:
    """The value of a spec field (found, value): the section carrying it, then the keys below."""
    for section, value in sections.items():
        if field[:len(section)] == section:
            for key in field[len(section):]:
                if not isinstance(value, dict) or key not in value:
                    return False, None
                value = value[key]
            return True, value
    return False, None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in str(text).split(".") if part.isdigit())


def _changes(rule: Replacing, old: Any, new: Any, has: bool) -> Iterator[tuple[JsonPath, Any, Any]]:
    """(path below the field, old, new) of each change the rule names; new is None for a removal."""
    if rule.when == "key removed":
        for key in sorted(set(old or {}) - set(new or {})):
            yield (key,), key, None
    elif not has:
        yield (), old, None  # what the field reached goes with it
    elif rule.when == "lowered":
        if _version(new) < _version(old):
            yield (), old, new
    elif old != new:
        yield (), old, new


def replacements(out: Path, spec: Spec, context: Context) -> list[Replacement]:
    """Every change of REPLACING between the tree on disk and this environment's spec."""
    committed = _committed(out, spec.name)
    if committed is None:
        return []
    before = _by_spec(context, committed)
    after = _by_spec(context, {**{("$variable", name): value for name, value in context.values.items()},
                               ("backend",): context.backend})
    protected = any(_lookup(values, ("database", "deletion_protection"))[1] for values in (before, after))
    found = []
    for rule in REPLACING:
        had, old = _lookup(before, rule.field)
        has, new = _lookup(after, rule.field)
        if not had:
            continue  # set for the first time: nothing existed to replace
        for below, was, becomes in _changes(rule, old, new, has):
            path = rule.field + below
            # A removed value is named where its section (or nearest remaining ancestor) is.
            where = spec.location(rule.field if rule.when == "key removed" else path)
            found.append(Replacement(spec.name, str(where), format_path(path), was, becomes, rule, protected))
    for rule, was, becomes in _engine_changes(before, after):
        found.append(Replacement(spec.name, str(spec.location(rule.field)), format_path(rule.field), was, becomes,
                                 rule, protected))
    for service, was, becomes in _blue_green_ports(before, after):
        path = ("services", service, "port")
        rule = Replacing(path, BLUE_GREEN_PORT.when, BLUE_GREEN_PORT.resources.replace("<service>", service),
                         BLUE_GREEN_PORT.argument, BLUE_GREEN_PORT.safe_way, everywhere=True)
        found.append(Replacement(spec.name, str(spec.location(path)), format_path(path), was, becomes, rule, protected))
    return found
