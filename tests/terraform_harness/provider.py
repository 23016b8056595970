"""What the stand-in hashicorp/aws provider answers, independent of gRPC plumbing.

Values travel as cty msgpack.  Terraform encodes an object as a map holding *every*
attribute and block of the schema (nulls included), so planning, applying and reading only
replace values in the decoded map and encode it again.  An unknown value is msgpack
ext type 0; any ext type received is treated as unknown (newer Terraform sends
refined unknowns with another ext code): a plan passes it through, an apply replaces it.

Plan leaves unset computed attributes unknown; apply invents them (values.Inventor) and
keeps every planned value; refresh returns the stored state unless the run's world
(world.World) says otherwise.  A Session is one run; its AwsAccount holds what the runs into
that account have created, and what AWS refuses because of it.
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
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


# Arguments AWS cannot change in place: the provider marks them ForceNew, and a change to one
# plans a replacement (the old object destroyed, a new one created, with new ids).
REPLACED_BY = {
    "aws_lb_target_group": ("name", "name_prefix", "port", "protocol", "protocol_version", "target_type",
                            "vpc_id", "ip_address_type"),
}


def plan(type_name: str, prior_dv, proposed_dv, config_dv):
    """(planned msgpack bytes, diagnostics, attributes whose change requires replacement) for a
    PlanResourceChange request."""
    block = block_for("resource", type_name)
    proposed = decode(proposed_dv)
    if block is None:
        return b"", [diagnostic("Unknown resource type", type_name)], []
    if proposed is None:  # destroy
        return encode(None), [], []
    prior = decode(prior_dv)
    planned = plan_object(block, proposed)
    if type_name == "aws_acm_certificate" and prior is None:
        planned["domain_validation_options"] = acm_validation_options(planned)
    replace = [name for name in REPLACED_BY.get(type_name, ()) if prior is not None
               and not is_unknown(planned.get(name)) and planned.get(name) != prior.get(name)]
    if replace:  # a new object: what AWS decides for it (ids, ARNs) is unknown until it exists
        config, attributes = decode(config_dv) or {}, block.get("attributes", {})
        planned = plan_object(block, {key: None if (attributes.get(key) or {}).get("computed")
                                      and config.get(key) is None else value for key, value in proposed.items()})
    return encode(planned), [], replace


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


@dataclass(frozen=True)
class Unique:
    """An identity AWS refuses to create twice in one account and region.

    `keys` are the arguments that make it up, `code` the error code AWS's API returns,
    `overwrite` the argument that makes AWS take an existing one over instead, `summary`
    what the provider reports, where it is emulated word for word (formatted with the values
    of `keys`, trailing dots removed), and `rule` AWS's rule in a few words.
    """
    keys: tuple[str, ...]
    code: str
    overwrite: str | None = None
    summary: str | None = None
    rule: str | None = None


# Terraform core cannot see such clashes; the stand-in emulates them, within one run and
# across the runs of one account, so a configuration that only AWS would refuse fails.
UNIQUE_NAMES = {
    "aws_iam_role": Unique(("name",), "EntityAlreadyExists"),
    "aws_iam_policy": Unique(("name",), "EntityAlreadyExists"),
    "aws_iam_user": Unique(("name",), "EntityAlreadyExists"),
    "aws_security_group": Unique(("vpc_id", "name"), "InvalidGroup.Duplicate"),
    "aws_ecr_repository": Unique(("name",), "RepositoryAlreadyExistsException"),
    "aws_secretsmanager_secret": Unique(("name",), "ResourceExistsException"),
    "aws_kms_alias": Unique(("name",), "AlreadyExistsException"),
    "aws_cloudwatch_log_group": Unique(("name",), "ResourceAlreadyExistsException"),
    "aws_db_instance": Unique(("identifier",), "DBInstanceAlreadyExists"),
    "aws_db_subnet_group": Unique(("name",), "DBSubnetGroupAlreadyExists"),
    "aws_db_parameter_group": Unique(("name",), "DBParameterGroupAlreadyExists"),
    "aws_elasticache_replication_group": Unique(("replication_group_id",), "ReplicationGroupAlreadyExists"),
    "aws_elasticache_subnet_group": Unique(("name",), "CacheSubnetGroupAlreadyExists"),
    "aws_codebuild_project": Unique(("name",), "ResourceAlreadyExistsException"),
    "aws_codepipeline": Unique(("name",), "PipelineNameInUseException"),
    "aws_cloudtrail": Unique(("name",), "TrailAlreadyExistsException"),
    "aws_ssm_parameter": Unique(("name",), "ParameterAlreadyExists", overwrite="overwrite"),
    # CREATE, or UPSERT with allow_overwrite (resourceRecordCreate in the provider).
    "aws_route53_record": Unique(
        ("zone_id", "name", "type", "set_identifier"), "InvalidChangeBatch", overwrite="allow_overwrite",
        summary="creating Route53 Record: InvalidChangeBatch: [Tried to create resource record set "
                "[name='{name}.', type='{type}'] but it already exists]"),
    # One detector per account and region: CreateDetector takes no name at all.
    "aws_guardduty_detector": Unique(
        ("region",), "BadRequestException",
        summary="creating GuardDuty Detector: BadRequestException: The request is rejected because a "
                "detector already exists for the current account.",
        rule="AWS allows one GuardDuty detector per account and region"),
}


def unique_name(type_name: str, state) -> tuple | None:
    """The identity AWS keeps unique for this object, or None when its type has none."""
    rule = UNIQUE_NAMES.get(type_name)
    if rule is None or not isinstance(state, dict):
        return None
    return (type_name,) + tuple(str(state.get(k) or "").rstrip(".").lower() for k in rule.keys)


def name_taken(type_name: str, state) -> list:
    """AWS's refusal of `state`, whose identity exists already."""
    rule = UNIQUE_NAMES[type_name]
    values = {k: str(state.get(k) or "").rstrip(".") for k in rule.keys}
    label = ", ".join(v for v in values.values() if v)
    summary = (rule.summary.format(**values) if rule.summary
               else f"creating {type_name} ({label}): {rule.code}: it already exists")
    why = rule.rule or f"AWS keeps {'/'.join(rule.keys)} unique per account and region"
    return [diagnostic(
        summary, f"{why}, and this account already has one (created by this run or by an earlier run "
        "into the same account). (Emulated by the stand-in provider.)")]


# Where listeners and listener rules name the target groups they forward to.
FORWARD_ACTIONS = {"aws_lb_listener": "default_action", "aws_alb_listener": "default_action",
                   "aws_lb_listener_rule": "action", "aws_alb_listener_rule": "action"}


def forwarded_target_groups(type_name: str, state) -> frozenset[str]:
    """Target group ARNs a listener or listener rule forwards to: what associates them with its load balancer."""
    arns = set()
    for action in (state or {}).get(FORWARD_ACTIONS[type_name]) or []:
        if action.get("type") != "forward":
            continue
        arns.add(action.get("target_group_arn"))
        for forward in action.get("forward") or []:
            arns.update(group.get("arn") for group in forward.get("target_group") or [])
    return frozenset(a for a in arns if isinstance(a, str) and a)


def service_target_groups(state) -> frozenset[str]:
    return frozenset(lb["target_group_arn"] for lb in (state or {}).get("load_balancer") or []
                     if isinstance(lb.get("target_group_arn"), str) and lb["target_group_arn"])


class AwsAccount:
    """What AWS remembers of one account: everything the runs applied into it created.

    A run without an account gets one of its own; runs given the same account (see
    runner.Account) share it, one after another, as environments deployed into one account.
    Ids never repeat within an account and task definition revisions count on across runs.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.seeds: set[str] = set()
        self.revisions: dict[str, int] = {}
        self.names: set[tuple] = set()  # identities of UNIQUE_NAMES objects that exist
        self.forwards: dict[str, frozenset[str]] = {}  # listener or rule id -> target group ARNs

    def refusals(self, type_name: str, prior, new) -> list:
        """Why AWS would refuse to turn `prior` into `new` (None: absent), given what exists now."""
        if type_name in ("aws_lb_target_group", "aws_alb_target_group") and new is None:
            arn = (prior or {}).get("arn")
            if any(arn in arns for arns in self.forwards.values()):
                return [diagnostic(
                    f"deleting ELBv2 Target Group ({arn}): ResourceInUse: Target group '{arn}' is currently in "
                    "use by a listener or a rule",
                    "ELB deletes a target group only once no listener or listener rule forwards to it. "
                    "(Emulated by the stand-in provider.)")]
        wanted = unique_name(type_name, new)
        if wanted is not None and wanted in self.names and wanted != unique_name(type_name, prior):
            overwrite = UNIQUE_NAMES[type_name].overwrite
            if not (overwrite and new.get(overwrite) is True):
                return name_taken(type_name, new)
        if type_name == "aws_ecs_service" and new is not None:
            associated = set().union(*self.forwards.values())
            # The provider retries this for minutes; here the listener exists at the call or it does not.
            unassociated = sorted(service_target_groups(new) - service_target_groups(prior) - associated)
            if unassociated:
                verb, which = ("creating", new.get("name")) if prior is None else ("updating", new.get("id"))
                return [diagnostic(
                    f"{verb} ECS Service ({which}): InvalidParameterException: The target group with "
                    f"targetGroupArn {unassociated[0]} does not have an associated load balancer.",
                    "ECS registers a service's tasks with a target group only once a listener or listener "
                    "rule of a load balancer forwards to it, and none did yet: make the service depend on "
                    "the listener. (Emulated by the stand-in provider.)")]
        return []

    def remember(self, type_name: str, prior, new) -> None:
        old, wanted = unique_name(type_name, prior), unique_name(type_name, new)
        if old != wanted:
            self.names.discard(old)
        if wanted is not None:
            self.names.add(wanted)
        if type_name in FORWARD_ACTIONS:
            self.forwards.pop((prior or {}).get("id"), None)
            if new is not None:
                self.forwards[new.get("id")] = forwarded_target_groups(type_name, new)

    def forgot(self, type_name: str, state) -> bool:
        """Whether the object of this state no longer exists (a run destroyed it since)."""
        name = unique_name(type_name, state)
        with self.lock:
            return name is not None and name not in self.names


class Session:
    """One Terraform run, and the account it acts on (AwsAccount).

    The server gives each applying run a session of its own, so invented values depend only
    on the configuration and on what the account already holds (same config, same values)
    and runs in different accounts never see each other.  Terraform calls the provider from
    several goroutines at once, hence the locks.
    """

    def __init__(self, account: AwsAccount | None = None):
        self.account = account or AwsAccount()
        self.lock = threading.Lock()
        self.default_tags: dict = {}
        self.world = World()
        self.world_hits: set[int] = set()

    def claim(self, seed: str) -> str:
        """A seed no other object of the account has: identical configurations still get distinct ids."""
        with self.account.lock:
            unique, n = seed, 0
            while unique in self.account.seeds:
                n += 1
                unique = digest(seed, str(n))
            self.account.seeds.add(unique)
            return unique

    def next_revision(self, family: str) -> int:
        with self.account.lock:
            revisions = self.account.revisions
            revisions[family] = revisions.get(family, 0) + 1
            return revisions[family]

    def latest_revision(self, family: str) -> int | None:
        return self.account.revisions.get(family)

    def change(self, type_name: str, prior, new) -> list:
        """AWS's refusal (error diagnostics) of turning `prior` into `new`; else it remembers `new`."""
        with self.account.lock:
            diags = self.account.refusals(type_name, prior, new)
            if not diags:
                self.account.remember(type_name, prior, new)
            return diags

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
    if planned is None:  # destroy: AWS forgets it, unless it refuses
        diags = session.change(type_name, prior, None)
        return encode(prior if diags else None), diags
    seed = session.claim(digest(type_name, planned_dv.msgpack.hex()))
    state = Inventor("resource", type_name, planned, seed, session).complete_block(block, planned)
    diags = session.change(type_name, prior, state)
    if diags:  # AWS refused: nothing changed
        return encode(prior), diags
    return encode(state), []


def read_resource(session: Session, type_name: str, state_dv) -> bytes:
    """Refresh: the stored state, unless the object is gone from the account (another run into it
    destroyed it) or the world says AWS now reports something else."""
    if type_name in UNIQUE_NAMES and session.account.forgot(type_name, decode(state_dv)):
        return encode(None)  # the provider removes what AWS no longer has from the state
    if not any(rule.kind == "resource" and rule.type_name == type_name for rule in session.world.rules):
        return state_dv.msgpack
    return encode(session.overlay("resource", type_name, decode(state_dv)))
