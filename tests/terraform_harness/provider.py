"""What the stand-in hashicorp/aws provider answers, independent of gRPC plumbing.

Values travel as cty msgpack.  Terraform encodes an object as a map holding *every*
attribute and block of the schema (nulls included), so planning, applying and reading only
replace values in the decoded map and encode it again.  An unknown value is msgpack
ext type 0; any ext type received is treated as unknown (newer Terraform sends
refined unknowns with another ext code): a plan passes it through, an apply replaces it.

Plan leaves unset computed attributes unknown; apply invents them (values.Inventor) and
keeps every planned value; refresh returns the stored state unless the run's world
(world.World) says otherwise.  A Session holds what one run has created.
"""

from __future__ import annotations

import gzip
import json
import threading
from functools import lru_cache
from pathlib import Path

import msgpack

from . import protocol as pb
from .values import ACCOUNT_ID, REGION, UNKNOWN, Inventor, digest, is_unknown
from .world import World

PROVIDER_ADDR = "registry.terraform.io/hashicorp/aws"
SCHEMA_PATH = (Path(__file__).resolve().parents[2] / "codemate_tfgen" / "data"
               / "aws_provider_schema.json.gz")


# --- schema ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The provider schema JSON; a missing file is an error, never a skip."""
    with gzip.open(SCHEMA_PATH, "rb") as fh:
        return json.load(fh)["provider_schemas"][PROVIDER_ADDR]


def is_write_only(name: str, kind: str) -> bool:
    # The source schema has no write_only flag; AWS names write-only arguments *_wo.
    return kind == "resource" and name.endswith("_wo")


def block_to_proto(block: dict, kind: str):
    out = pb.Block()
    for name in sorted(block.get("attributes", {})):
        attr = block["attributes"][name]
        out.attributes.add(
            name=name, type=json.dumps(attr["type"], separators=(",", ":")).encode(),
            required=attr.get("required", False), optional=attr.get("optional", False),
            computed=attr.get("computed", False), write_only=is_write_only(name, kind))
    for name in sorted(block.get("block_types", {})):
        nested = block["block_types"][name]
        out.block_types.add(
            type_name=name, block=block_to_proto(nested["block"], kind),
            nesting=pb.NESTING[nested["nesting_mode"]],
            min_items=nested.get("min_items", 0), max_items=nested.get("max_items", 0))
    return out


@lru_cache(maxsize=1)
def schema_response_bytes() -> bytes:
    """GetProviderSchema response, serialized once per process (about 4 MB of protobuf)."""
    schema = load_schema()
    resp = pb.GetProviderSchemaResponse()
    resp.provider.block.CopyFrom(block_to_proto(schema["provider"]["block"], "provider"))
    resp.provider_meta.block.CopyFrom(pb.Block())
    for field, key, kind in (("resource_schemas", "resource_schemas", "resource"),
                             ("data_source_schemas", "data_source_schemas", "data")):
        for name in sorted(schema[key]):
            entry = getattr(resp, field).add(key=name)
            entry.value.version = schema[key][name].get("version", 0)
            entry.value.block.CopyFrom(block_to_proto(schema[key][name]["block"], kind))
    resp.server_capabilities.plan_destroy = False
    # Lets Terraform reuse the schema it decoded once in this process instead of fetching and
    # decoding 4 MB again in every command: all commands of a run share one child process.
    resp.server_capabilities.get_provider_schema_optional = True
    return resp.SerializeToString()


def block_for(kind: str, type_name: str) -> dict | None:
    key = "resource_schemas" if kind == "resource" else "data_source_schemas"
    entry = load_schema()[key].get(type_name)
    return entry["block"] if entry else None


# --- msgpack helpers ---------------------------------------------------------------------


def decode(dv) -> object:
    if dv.msgpack:
        return msgpack.unpackb(dv.msgpack, raw=False, strict_map_key=False)
    if dv.json:
        return json.loads(dv.json)
    return None


def encode(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def diagnostic(summary: str, detail: str, path: list[str] | None = None, warning=False):
    diag = pb.Diagnostic(severity=pb.SEVERITY_WARNING if warning else pb.SEVERITY_ERROR,
                         summary=summary, detail=detail)
    for step in path or []:
        diag.attribute.steps.add(attribute_name=step)
    return diag


def nested_elements(value, nesting: str) -> list:
    """The element objects of a nested block value, whatever its nesting mode."""
    if value is None or is_unknown(value):
        return []
    if nesting == "single" or nesting == "group":
        return [value]
    if nesting == "map":
        return list(value.values())
    return list(value)


# --- ValidateResourceConfig / ValidateDataResourceConfig -------------------------------


def unconfigurable(block: dict, config: dict, path: list[str]) -> list:
    """Computed-only attributes set in config: core leaves this check to the provider."""
    diags = []
    if not isinstance(config, dict):
        return diags
    for name, attr in block.get("attributes", {}).items():
        computed_only = attr.get("computed") and not attr.get("optional") and not attr.get("required")
        if computed_only and config.get(name) is not None:
            diags.append(diagnostic(
                "Value for unconfigurable attribute",
                f'Can\'t configure a value for "{name}": its value will be decided '
                "automatically based on the result of applying this configuration.",
                path + [name]))
    for name, nested in block.get("block_types", {}).items():
        for element in nested_elements(config.get(name), nested["nesting_mode"]):
            diags.extend(unconfigurable(nested["block"], element, path + [name]))
    return diags


def validate(kind: str, type_name: str, config_dv) -> list:
    block = block_for(kind, type_name)
    if block is None:
        return [diagnostic("Unknown type", f"{type_name} is not in the aws schema")]
    return unconfigurable(block, decode(config_dv), [])


# --- PlanResourceChange --------------------------------------------------------------------


def plan_object(block: dict, proposed: dict, kind: str = "resource") -> dict:
    """Unset computed attributes become unknown; write-only ones must plan as null."""
    if not isinstance(proposed, dict):
        return proposed
    planned = dict(proposed)
    for name, attr in block.get("attributes", {}).items():
        if is_write_only(name, kind):
            planned[name] = None
        elif attr.get("computed") and planned.get(name) is None:
            planned[name] = UNKNOWN
    for name, nested in block.get("block_types", {}).items():
        value, mode = planned.get(name), nested["nesting_mode"]
        if value is None or is_unknown(value):
            continue
        if mode in ("single", "group"):
            planned[name] = plan_object(nested["block"], value, kind)
        elif mode == "map":
            planned[name] = {k: plan_object(nested["block"], v, kind) for k, v in value.items()}
        else:
            planned[name] = [plan_object(nested["block"], v, kind) for v in value]
    return planned


def acm_validation_options(planned: dict) -> object:
    """What aws_acm_certificate knows at plan time: one option per distinct domain.

    Modules do `for_each = { for o in aws_acm_certificate.x.domain_validation_options : ...}`,
    which Terraform accepts only when the set's keys are known during plan.
    """
    domain = planned.get("domain_name")
    sans = planned.get("subject_alternative_names") or []
    if domain is None or is_unknown(domain) or is_unknown(sans):
        return UNKNOWN
    names = [domain] + [s for s in sans if s != domain]
    return [{"domain_name": n, "resource_record_name": UNKNOWN,
             "resource_record_type": "CNAME", "resource_record_value": UNKNOWN}
            for n in dict.fromkeys(names)]


def plan(type_name: str, prior_dv, proposed_dv, config_dv):
    """(planned msgpack bytes, diagnostics) for a PlanResourceChange request."""
    block = block_for("resource", type_name)
    proposed = decode(proposed_dv)
    if block is None:
        return b"", [diagnostic("Unknown resource type", type_name)]
    if proposed is None:  # destroy
        return encode(None), []
    planned = plan_object(block, proposed)
    if type_name == "aws_acm_certificate" and decode(prior_dv) is None:
        planned["domain_validation_options"] = acm_validation_options(planned)
    return encode(planned), []


# --- ReadDataSource ----------------------------------------------------------------------

# Values a data source would really return, where plans commonly depend on them.
KNOWN_DATA = {
    ("aws_caller_identity", "account_id"): ACCOUNT_ID,
    ("aws_caller_identity", "id"): ACCOUNT_ID,
    ("aws_caller_identity", "arn"): f"arn:aws:iam::{ACCOUNT_ID}:user/stand-in",
    ("aws_caller_identity", "user_id"): "AIDASTANDIN0000000000",
    ("aws_region", "name"): REGION,
    ("aws_region", "region"): REGION,
    ("aws_region", "endpoint"): f"ec2.{REGION}.amazonaws.com",
    ("aws_partition", "partition"): "aws",
    ("aws_partition", "id"): "aws",
    ("aws_partition", "dns_suffix"): "amazonaws.com",
    ("aws_partition", "reverse_dns_prefix"): "com.amazonaws",
    ("aws_availability_zones", "names"): [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
    ("aws_availability_zones", "zone_ids"): ["use1-az1", "use1-az2", "use1-az4"],
    ("aws_elb_service_account", "arn"): "arn:aws:iam::127311923021:root",
    ("aws_route53_zone", "zone_id"): "Z0123456789STANDIN",
    ("aws_route53_zone", "id"): "Z0123456789STANDIN",
    ("aws_route53_zone", "name_servers"): ["ns-1.awsdns-00.com", "ns-2.awsdns-00.net"],
    ("aws_ami", "id"): "ami-0123456789abcdef0",
}


def policy_document_json(config: dict) -> str:
    """aws_iam_policy_document.json rendered from its statement blocks.

    Terraform reads a data source only once its whole configuration is known (before that it
    defers the read to apply), so every value here is known.
    """
    statements = []
    for st in config.get("statement") or []:
        out = {"Effect": st.get("effect") or "Allow"}
        for key, field in (("Sid", "sid"), ("Action", "actions"), ("NotAction", "not_actions"),
                           ("Resource", "resources"), ("NotResource", "not_resources")):
            if st.get(field):
                out[key] = st[field]
        for key, field in (("Principal", "principals"), ("NotPrincipal", "not_principals")):
            principals = {}
            for p in st.get(field) or []:
                principals.setdefault(p.get("type"), []).extend(p.get("identifiers") or [])
            if principals:
                out[key] = principals
        conditions = {}
        for c in st.get("condition") or []:
            conditions.setdefault(c.get("test"), {})[c.get("variable")] = c.get("values") or []
        if conditions:
            out["Condition"] = conditions
        statements.append(out)
    return json.dumps({"Version": config.get("version") or "2012-10-17",
                       "Statement": statements}, sort_keys=True)


def read_data(session: Session, type_name: str, config_dv):
    """(state msgpack bytes, diagnostics): the config with every null computed attribute filled."""
    block = block_for("data", type_name)
    config = decode(config_dv)
    if block is None or not isinstance(config, dict):
        return b"", [diagnostic("Unknown data source", type_name)]
    state = dict(config)
    for name, attr in block.get("attributes", {}).items():
        # Every data source of the real provider sets an id, even where it is an argument.
        if (attr.get("computed") or name == "id") and state.get(name) is None:
            known = KNOWN_DATA.get((type_name, name))
            state[name] = known if known is not None else UNKNOWN
    if type_name == "aws_iam_policy_document":
        state["json"] = state["minified_json"] = policy_document_json(config)
    seed = digest(type_name, config_dv.msgpack.hex())
    state = Inventor("data", type_name, state, seed, session).complete_block(block, state)
    return encode(session.overlay("data", type_name, state)), []


# --- ApplyResourceChange, ReadResource, ConfigureProvider --------------------------------

# Names AWS refuses to create twice in one account and region, with the error code its API
# returns, and the argument that makes it overwrite instead.  Terraform core cannot see such
# clashes; the stand-in emulates them so a configuration that only AWS would refuse fails.
UNIQUE_NAMES = {
    "aws_iam_role": (("name",), "EntityAlreadyExists", None),
    "aws_iam_policy": (("name",), "EntityAlreadyExists", None),
    "aws_iam_user": (("name",), "EntityAlreadyExists", None),
    "aws_security_group": (("vpc_id", "name"), "InvalidGroup.Duplicate", None),
    "aws_ecr_repository": (("name",), "RepositoryAlreadyExistsException", None),
    "aws_secretsmanager_secret": (("name",), "ResourceExistsException", None),
    "aws_kms_alias": (("name",), "AlreadyExistsException", None),
    "aws_cloudwatch_log_group": (("name",), "ResourceAlreadyExistsException", None),
    "aws_db_instance": (("identifier",), "DBInstanceAlreadyExists", None),
    "aws_db_subnet_group": (("name",), "DBSubnetGroupAlreadyExists", None),
    "aws_db_parameter_group": (("name",), "DBParameterGroupAlreadyExists", None),
    "aws_elasticache_replication_group": (("replication_group_id",), "ReplicationGroupAlreadyExists", None),
    "aws_elasticache_subnet_group": (("name",), "CacheSubnetGroupAlreadyExists", None),
    "aws_codebuild_project": (("name",), "ResourceAlreadyExistsException", None),
    "aws_codepipeline": (("name",), "PipelineNameInUseException", None),
    "aws_cloudtrail": (("name",), "TrailAlreadyExistsException", None),
    "aws_ssm_parameter": (("name",), "ParameterAlreadyExists", "overwrite"),
    "aws_route53_record": (("zone_id", "name", "type", "set_identifier"), "InvalidChangeBatch",
                           "allow_overwrite"),
}


def unique_name(type_name: str, state) -> tuple | None:
    """The identity AWS keeps unique for this object, or None when it does not apply."""
    rule = UNIQUE_NAMES.get(type_name)
    if rule is None or not isinstance(state, dict) or (rule[2] and state.get(rule[2]) is True):
        return None
    return (type_name,) + tuple(str(state.get(k) or "").rstrip(".").lower() for k in rule[0])


class Session:
    """What one Terraform run has done so far, as AWS would remember it.

    The server gives each applying run a session of its own, so invented values depend only
    on that run's configuration (same config, same values) and runs never see each other.
    Terraform calls the provider from several goroutines at once, hence the lock.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.seeds: set[str] = set()
        self.revisions: dict[str, int] = {}
        self.names: set[tuple] = set()
        self.default_tags: dict = {}
        self.world = World()
        self.world_hits: set[int] = set()

    def claim(self, seed: str) -> str:
        """A seed no other object of this run has: identical configurations still get distinct ids."""
        with self.lock:
            unique, n = seed, 0
            while unique in self.seeds:
                n += 1
                unique = digest(seed, str(n))
            self.seeds.add(unique)
            return unique

    def next_revision(self, family: str) -> int:
        with self.lock:
            self.revisions[family] = self.revisions.get(family, 0) + 1
            return self.revisions[family]

    def latest_revision(self, family: str) -> int | None:
        return self.revisions.get(family)

    def rename(self, type_name: str, prior, new) -> list:
        """Track AWS's unique names; an error diagnostic when `new` takes one already in use."""
        old, wanted = unique_name(type_name, prior), unique_name(type_name, new)
        with self.lock:
            if wanted is not None and wanted != old and wanted in self.names:
                label = ", ".join(v for v in wanted[1:] if v)
                return [diagnostic(
                    f"creating {type_name} ({label}): {UNIQUE_NAMES[type_name][1]}: it already exists",
                    f"AWS keeps {'/'.join(UNIQUE_NAMES[type_name][0])} unique per account and region, and "
                    "another resource of this configuration already created one with the same value. "
                    "(Emulated by the stand-in provider.)")]
            self.names.discard(old)
            if wanted is not None:
                self.names.add(wanted)
            return []

    def configure(self, config) -> None:
        """Aliased provider blocks share the server: their default_tags are merged."""
        for block in (config or {}).get("default_tags") or []:
            tags = block.get("tags") if isinstance(block, dict) else None
            if isinstance(tags, dict):
                with self.lock:
                    self.default_tags.update({k: v for k, v in tags.items() if isinstance(v, str)})

    def overlay(self, kind: str, type_name: str, obj):
        obj, hits = self.world.overlay(kind, type_name, obj)
        if hits:
            with self.lock:
                self.world_hits |= hits
        return obj


def apply(session: Session, type_name: str, prior_dv, planned_dv):
    """(new state msgpack bytes, diagnostics): the plan made real, every unknown invented."""
    block = block_for("resource", type_name)
    if block is None:
        return b"", [diagnostic("Unknown resource type", type_name)]
    prior, planned = decode(prior_dv), decode(planned_dv)
    if planned is None:  # destroy
        session.rename(type_name, prior, None)
        return encode(None), []
    seed = session.claim(digest(type_name, planned_dv.msgpack.hex()))
    state = Inventor("resource", type_name, planned, seed, session).complete_block(block, planned)
    diags = session.rename(type_name, prior, state)
    if diags:  # AWS refused: nothing changed
        return encode(prior), diags
    return encode(state), []


def read_resource(session: Session, type_name: str, state_dv) -> bytes:
    """Refresh: the stored state, unless the world says AWS now reports something else."""
    if not any(rule.kind == "resource" and rule.type_name == type_name for rule in session.world.rules):
        return state_dv.msgpack
    return encode(session.overlay("resource", type_name, decode(state_dv)))
