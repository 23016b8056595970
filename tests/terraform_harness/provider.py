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

from . import ecr
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


# Arguments the real provider marks ForceNew (its resource schemas, hashicorp/aws 6.x): a change
# of one replaces the object.  The types whose replacement loses data or breaks what refers to
# them, and what the lifecycle tests change; a change of any other argument is an update.
# codemate_tfgen's REPLACING names its ForceNew arguments (`forces`); each must be here
# (tests/test_operations.py checks it).
REPLACE_FORCING = {
    "aws_db_instance": ("availability_zone", "character_set_name", "db_name", "engine", "kms_key_id",
                        "storage_encrypted", "username"),
    "aws_db_instance_automated_backups_replication": ("kms_key_id", "pre_signed_url", "retention_period",
                                                      "source_db_instance_arn"),
    "aws_db_parameter_group": ("description", "family", "name", "name_prefix"),
    "aws_db_subnet_group": ("name", "name_prefix"),
    "aws_elasticache_replication_group": ("at_rest_encryption_enabled", "kms_key_id", "port",
                                          "replication_group_id", "subnet_group_name"),
    "aws_elasticache_subnet_group": ("name",),
    "aws_vpc": ("cidr_block",),
    "aws_subnet": ("availability_zone", "cidr_block", "vpc_id"),
    "aws_s3_bucket": ("bucket", "bucket_prefix"),
    "aws_ecr_repository": ("encryption_configuration", "name"),
    "aws_kms_key": ("customer_master_key_spec", "key_usage", "multi_region"),
    "aws_dynamodb_table": ("hash_key", "name", "range_key"),
    "aws_lb": ("internal", "load_balancer_type", "name", "name_prefix"),
    "aws_lb_target_group": ("name", "name_prefix", "port", "protocol", "target_type", "vpc_id"),
    "aws_secretsmanager_secret": ("name", "name_prefix"),
    "aws_security_group": ("description", "name", "name_prefix", "vpc_id"),
    "aws_cloudwatch_log_group": ("name", "name_prefix"),
}


def replace_paths(type_name: str, prior, planned) -> list[str]:
    """The replace-forcing arguments whose value the plan changes (an unknown new value counts)."""
    if not isinstance(prior, dict) or not isinstance(planned, dict):
        return []
    return [name for name in REPLACE_FORCING.get(type_name, ())
            if is_unknown(planned.get(name)) or planned.get(name) != prior.get(name)]


def plan(type_name: str, prior_dv, proposed_dv, config_dv):
    """(planned msgpack bytes, attributes that force replacement, diagnostics) for a
    PlanResourceChange request."""
    block = block_for("resource", type_name)
    proposed = decode(proposed_dv)
    if block is None:
        return b"", [], [diagnostic("Unknown resource type", type_name)]
    if proposed is None:  # destroy
        return encode(None), [], []
    prior = decode(prior_dv)
    planned = plan_object(block, proposed)
    if type_name == "aws_acm_certificate" and prior is None:
        planned["domain_validation_options"] = acm_validation_options(planned)
    return encode(planned), replace_paths(type_name, prior, planned), []


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
    # CreateOpenIDConnectProvider: one provider per issuer URL in an account.
    "aws_iam_openid_connect_provider": Unique(("url",), "EntityAlreadyExists"),
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


def final_snapshot(type_name: str, state: dict) -> str | None:
    """The snapshot AWS takes when this object is deleted, by name, or None."""
    if type_name == "aws_db_instance" and not state.get("skip_final_snapshot"):
        return state.get("final_snapshot_identifier")
    if type_name == "aws_elasticache_replication_group":
        return state.get("final_snapshot_identifier")
    return None


def refused(summary: str, why: str) -> list:
    return [diagnostic(summary, f"{why} (Emulated by the stand-in provider.)")]


def major(version) -> str:
    return str(version or "").split(".")[0]


def wildcard(pattern: str, text: str) -> bool:
    return ecr.selects({"tagStatus": "tagged", "tagPatternList": [pattern]}, ecr.Image("", {text}))


@dataclass
class Repository:
    """An ECR repository's images and what decides their fate."""
    url: str
    force_delete: bool
    mutable: tuple[str, ...] | None  # tag patterns that may move; None: every tag may
    images: list[ecr.Image]
    policy: str | None = None

    def tag_may_move(self, tag: str) -> bool:
        return self.mutable is None or any(wildcard(p, tag) for p in self.mutable)

    def holding(self, tag: str) -> ecr.Image | None:
        return next((i for i in self.images if tag in i.tags), None)


def repository_of(state: dict, images: list[ecr.Image]) -> Repository:
    mutability = state.get("image_tag_mutability") or "MUTABLE"
    mutable = None if mutability == "MUTABLE" else tuple(
        f.get("filter") for f in state.get("image_tag_mutability_exclusion_filter") or []
        if mutability == "IMMUTABLE_WITH_EXCLUSION")
    return Repository(state.get("repository_url") or "", bool(state.get("force_delete")), mutable, images)


class AwsAccount:
    """What AWS remembers of one account: everything the runs applied into it created.

    A run without an account gets one of its own; runs given the same account (see
    runner.Account) share it, one after another, as environments deployed into one account.
    Ids never repeat within an account and task definition revisions count on across runs.
    Beyond what Terraform creates, tests act as the account's users do (runner.Account): put
    objects into buckets, push and tag images, let time pass for ECR's lifecycle policies,
    pull images as ECS would.
    """

    def __init__(self, service_linked_roles: tuple[str, ...] = ("ecs.amazonaws.com",)):
        self.lock = threading.Lock()
        self.seeds: set[str] = set()
        self.revisions: dict[str, int] = {}
        self.names: set[tuple] = set()  # identities of UNIQUE_NAMES objects that exist
        self.forwards: dict[str, frozenset[str]] = {}  # listener or rule id -> target group ARNs
        self.buckets: dict[str, set[str]] = {}  # bucket -> object keys
        self.repositories: dict[str, Repository] = {}  # by name
        self.deleted_secrets: set[str] = set()  # names in their recovery window
        self.parameter_groups: dict[str, str] = {}  # DB parameter group name -> family
        self.db_members: dict[str, str] = {}  # DB instance identifier -> its parameter group
        self.service_linked_roles = set(service_linked_roles)
        self.pending_keys: set[str] = set()  # KMS key ARNs scheduled for deletion
        self.snapshots: dict[str, str] = {}  # final snapshot name -> the KMS key ARN encrypting it
        self.clock = 0.0  # days; every push is later than the one before
        self.pushes = 0
        self.versioned: set[str] = set()  # buckets whose versioning is Enabled
        self.aliases: dict[str, str] = {}  # CloudFront alternate domain name -> the distribution's id

    # --- what AWS refuses ------------------------------------------------------------------

    def refusals(self, type_name: str, prior, new) -> list:
        """Why AWS would refuse to turn `prior` into `new` (None: absent), given what exists now."""
        wanted = unique_name(type_name, new)
        if wanted is not None and wanted in self.names and wanted != unique_name(type_name, prior):
            overwrite = UNIQUE_NAMES[type_name].overwrite
            if not (overwrite and new.get(overwrite) is True):
                return name_taken(type_name, new)
        if new is None:
            return self.deletion_refusals(type_name, prior or {})
        if type_name == "aws_secretsmanager_secret" and prior is None and new.get("name") in self.deleted_secrets:
            return refused(
                f"creating Secrets Manager Secret ({new.get('name')}): InvalidRequestException: You can't "
                "create this secret because a secret with this name is already scheduled for deletion.",
                "A deleted secret keeps its name for its recovery window (recovery_window_in_days, 7 to 30 "
                "days; 0 deletes it at once).")
        if type_name == "aws_ecr_lifecycle_policy":
            try:
                ecr.parse(new.get("policy") or "")
            except ecr.PolicyError as exc:
                return refused(f"putting ECR Lifecycle Policy ({new.get('repository')}): InvalidParameterException: "
                               f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: {exc}",
                               "ECR checks a lifecycle policy's rules when it is put.")
        if type_name == "aws_db_instance":
            return self.db_refusals(prior, new)
        if type_name == "aws_s3_bucket_replication_configuration":
            return self.replication_refusals(new)
        if type_name == "aws_cloudfront_distribution":
            taken = self.claimed_aliases(new.get("id"), new.get("aliases") or [])
            if taken:
                return refused(f"{'creating' if prior is None else 'updating'} CloudFront Distribution "
                               f"({new.get('id')}): CNAMEAlreadyExists: One or more of the CNAMEs you provided are "
                               "already associated with a different resource.",
                               f"{taken[0]} is an alternate domain name of distribution {self.aliases[taken[0]]}: a "
                               "name belongs to one distribution at a time; remove it there first (or move it with "
                               "aws cloudfront associate-alias).")
        if type_name == "aws_ecs_service" and prior is None and "ecs.amazonaws.com" not in self.service_linked_roles:
            return refused(
                f"creating ECS Service ({new.get('name')}): InvalidParameterException: Unable to assume the "
                "service linked role. Please verify that the ECS service linked role exists.",
                "The account has no AWSServiceRoleForECS yet: a brand-new account gets it only when ECS "
                "creates it, which races the first service.")
        if type_name == "aws_ecs_service":
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

    def deletion_refusals(self, type_name: str, prior: dict) -> list:
        if type_name == "aws_s3_bucket" and self.buckets.get(prior.get("bucket")) and not prior.get("force_destroy"):
            return refused(f"deleting S3 Bucket ({prior.get('bucket')}): BucketNotEmpty: The bucket you tried to "
                           "delete is not empty", "S3 deletes only empty buckets; force_destroy empties it first.")
        repo = self.repositories.get(prior.get("name")) if type_name == "aws_ecr_repository" else None
        if repo is not None and repo.images and not prior.get("force_delete"):
            return refused(f"deleting ECR Repository ({prior.get('name')}): RepositoryNotEmptyException: The "
                           f"repository with name '{prior.get('name')}' in registry with id '{ACCOUNT_ID}' cannot "
                           "be deleted because it still contains images",
                           "ECR deletes only empty repositories; force_delete deletes the images first.")
        if type_name == "aws_db_instance" and prior.get("deletion_protection"):
            return refused(f"deleting RDS DB Instance ({prior.get('identifier')}): InvalidParameterCombination: "
                           "Cannot delete protected DB Instance, please disable deletion protection and try again.",
                           "deletion_protection is on.")
        if type_name == "aws_lb" and prior.get("enable_deletion_protection"):
            return refused(f"deleting ELBv2 Load Balancer ({prior.get('arn')}): OperationNotPermitted: Load "
                           f"balancer '{prior.get('arn')}' cannot be deleted because deletion protection is enabled",
                           "enable_deletion_protection is on.")
        if type_name == "aws_lb_target_group" and any(prior.get("arn") in arns for arns in self.forwards.values()):
            return refused(f"deleting ELBv2 Target Group ({prior.get('arn')}): ResourceInUse: Target group "
                           f"'{prior.get('arn')}' is currently in use by a listener or a rule",
                           "A listener or listener rule still forwards to it (the provider retries, then gives up).")
        snapshot = final_snapshot(type_name, prior)
        if snapshot is not None and snapshot in self.snapshots:
            code = ("DBSnapshotAlreadyExists: Cannot create the snapshot because a snapshot with the identifier "
                    if type_name == "aws_db_instance" else "SnapshotAlreadyExistsFault: Snapshot ")
            return refused(f"deleting {type_name} ({prior.get('id')}): taking its final snapshot: {code}"
                           f"{snapshot} already exists",
                           "A final snapshot's name must be new: an earlier deletion's snapshot has it.")
        if type_name == "aws_db_instance" and not prior.get("skip_final_snapshot") and snapshot is None:
            return refused(f"deleting RDS DB Instance ({prior.get('identifier')}): final_snapshot_identifier is "
                           "required when skip_final_snapshot is false", "The provider checks this before deleting.")
        if type_name == "aws_db_parameter_group" and prior.get("name") in self.db_members.values():
            return refused(f"deleting RDS DB Parameter Group ({prior.get('name')}): InvalidDBParameterGroupState: "
                           "One or more database instances are still members of this parameter group "
                           f"{prior.get('name')}, so the group cannot be deleted",
                           "An instance still uses it: switch the instance to its new group first.")
        return []

    def replication_refusals(self, new: dict) -> list:
        """What PutBucketReplication refuses (S3's replication requirements)."""
        source = new.get("bucket")
        which = f"putting S3 Bucket Replication Configuration ({source}): InvalidRequest: "
        if source not in self.versioned:
            return refused(which + "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
                           "Replication needs versioning on the source bucket first (depends_on its versioning).")
        for rule in new.get("rule") or []:
            for destination in rule.get("destination") or []:
                bucket = str(destination.get("bucket") or "").rpartition(":")[2]
                if bucket not in self.buckets:
                    return refused(which + "Destination bucket must exist", f"No bucket {bucket} in the account.")
                if bucket not in self.versioned:
                    return refused(which + "Destination bucket must have versioning enabled.",
                                   "Replication needs versioning on the destination bucket first (depends_on it).")
                kms = [c for s in rule.get("source_selection_criteria") or []
                       for c in s.get("sse_kms_encrypted_objects") or [] if c.get("status") == "Enabled"]
                keys = [e.get("replica_kms_key_id") for e in destination.get("encryption_configuration") or []]
                if kms and not any(keys):
                    return refused(which + "ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is "
                                   "present.", "SSE-KMS objects are replicated under a key of the destination.")
            if rule.get("filter") and not rule.get("delete_marker_replication"):
                return refused(which + "DeleteMarkerReplication must be specified for this version of Cross Region "
                               "Replication configuration schema.", "A rule with a filter is of schema V2.")
        return []

    def claimed_aliases(self, distribution: str | None, aliases) -> list[str]:
        """The alternate domain names in `aliases` another distribution holds."""
        return sorted(a for a in (str(a).lower() for a in aliases)
                      if self.aliases.get(a) not in (None, distribution))

    def db_refusals(self, prior, new: dict) -> list:
        which = new.get("identifier")
        if prior is not None and major(prior.get("engine_version")) != major(new.get("engine_version")) \
                and not new.get("allow_major_version_upgrade"):
            return refused(f"updating RDS DB Instance ({which}): InvalidParameterCombination: The "
                           "AllowMajorVersionUpgrade flag must be present when upgrading to a new major version.",
                           f"{prior.get('engine_version')} -> {new.get('engine_version')} is a major version upgrade.")
        family = self.parameter_groups.get(new.get("parameter_group_name"))
        engine = f"{new.get('engine')}{major(new.get('engine_version'))}"
        if family is not None and new.get("engine") == "postgres" and family != engine:
            return refused(f"{'creating' if prior is None else 'updating'} RDS DB Instance ({which}): "
                           f"InvalidParameterCombination: The parameter group {new.get('parameter_group_name')} with "
                           f"DBParameterGroupFamily {family} can't be used for this instance. Use a parameter group "
                           f"with DBParameterGroupFamily {engine}.",
                           "An instance's parameter group is of its engine's major version.")
        return []

    # --- what AWS remembers ----------------------------------------------------------------

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
        prior = prior or {}
        if type_name == "aws_s3_bucket":
            objects = self.buckets.pop(prior.get("bucket"), set())
            if new is not None:
                self.buckets[new.get("bucket")] = objects
        elif type_name == "aws_s3_bucket_versioning":
            self.versioned.discard(prior.get("bucket"))
            if new is not None and any(c.get("status") == "Enabled" for c in new.get("versioning_configuration") or []):
                self.versioned.add(new.get("bucket"))
        elif type_name == "aws_cloudfront_distribution":
            self.set_aliases(prior.get("id"), [])
            if new is not None:
                self.set_aliases(new.get("id"), new.get("aliases") or [])
        elif type_name == "aws_ecr_repository":
            old_repo = self.repositories.pop(prior.get("name"), None)
            if new is not None:  # an update keeps the images and the policy
                repo = repository_of(new, old_repo.images if old_repo else [])
                repo.policy = old_repo.policy if old_repo else None
                self.repositories[new.get("name")] = repo
        elif type_name == "aws_ecr_lifecycle_policy":
            for state, policy in ((prior, None), (new or {}, (new or {}).get("policy"))):
                if state.get("repository") in self.repositories:
                    self.repositories[state.get("repository")].policy = policy
        elif type_name == "aws_secretsmanager_secret":
            window = prior.get("recovery_window_in_days")
            if new is None and prior.get("name") and (window is None or window > 0):
                self.deleted_secrets.add(prior.get("name"))
        elif type_name == "aws_db_parameter_group":
            self.parameter_groups.pop(prior.get("name"), None)
            if new is not None:
                self.parameter_groups[new.get("name")] = new.get("family")
        elif type_name == "aws_db_instance":
            self.db_members.pop(prior.get("identifier"), None)
            if new is not None and new.get("parameter_group_name"):
                self.db_members[new.get("identifier")] = new.get("parameter_group_name")
        if new is None and type_name == "aws_kms_key":
            self.pending_keys.add(prior.get("arn"))
        if new is None and final_snapshot(type_name, prior) is not None:
            self.snapshots[final_snapshot(type_name, prior)] = prior.get("kms_key_id")
        if type_name == "aws_iam_service_linked_role" and new is not None:
            self.service_linked_roles.add(new.get("aws_service_name"))

    def forgot(self, type_name: str, state) -> bool:
        """Whether the object of this state no longer exists (a run destroyed it since)."""
        name = unique_name(type_name, state)
        with self.lock:
            return name is not None and name not in self.names

    # --- what the account's users do (runner.Account calls these through the server) --------

    def repository(self, name: str) -> Repository:
        repo = self.repositories.get(name)
        if repo is None:
            raise LookupError(f"RepositoryNotFoundException: The repository with name '{name}' does not exist "
                              f"in the registry with id '{ACCOUNT_ID}'")
        return repo

    def api_put_object(self, bucket: str, key: str) -> None:
        if bucket not in self.buckets:
            raise LookupError(f"NoSuchBucket: The specified bucket does not exist: {bucket}")
        self.buckets[bucket].add(key)

    def api_push_image(self, repository: str, tags: list[str]) -> str:
        """A new image (docker push) carrying `tags`; returns its digest."""
        repo = self.repository(repository)
        self.pushes += 1
        image = ecr.Image(f"sha256:{digest(repository, str(self.pushes))}", set(), self.clock)
        for tag in tags:
            self.put_tag(repo, image, tag)
        self.clock += 1 / (24 * 60)  # a minute later
        repo.images.append(image)
        return image.digest

    def api_tag_image(self, repository: str, tag: str, new_tag: str) -> None:
        """put-image of the manifest `tag` names under `new_tag` too (its push time stays)."""
        repo = self.repository(repository)
        image = repo.holding(tag)
        if image is None:
            raise LookupError(f"ImageNotFoundException: no image tagged {tag} in {repository}")
        if new_tag in image.tags:
            raise LookupError(f"ImageAlreadyExistsException: Image with digest '{image.digest}' and tag "
                              f"'{new_tag}' already exists in the repository")
        self.put_tag(repo, image, new_tag)

    @staticmethod
    def put_tag(repo: Repository, image: ecr.Image, tag: str) -> None:
        holder = repo.holding(tag)
        if holder is not None and holder is not image:
            if not repo.tag_may_move(tag):
                raise LookupError(f"ImageTagAlreadyExistsException: The image tag '{tag}' already exists and "
                                  "cannot be overwritten because the tag is immutable.")
            holder.tags.discard(tag)  # the image it leaves may be left untagged
        image.tags.add(tag)

    def api_expire_images(self, days: float) -> dict[str, list[list[str]]]:
        """`days` pass and every repository's lifecycle policy runs: the tags of what it expired."""
        self.clock += days
        gone = {}
        for name, repo in sorted(self.repositories.items()):
            if repo.policy:
                doomed = ecr.expired(repo.policy, repo.images, self.clock)
                repo.images = [i for i in repo.images if i not in doomed]
                gone[name] = [sorted(i.tags) for i in doomed]
        return gone

    def api_images(self, repository: str) -> list[list[str]]:
        return [sorted(i.tags) for i in sorted(self.repository(repository).images, key=lambda i: i.pushed_at)]

    def api_pull(self, image: str) -> str | None:
        """Why ECS could not pull `image` (repository URL:tag), or None."""
        url, _, tag = image.rpartition(":")
        repo = next((r for r in self.repositories.values() if r.url == url), None)
        if repo is None or repo.holding(tag) is None:
            return (f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to "
                    f"resolve ref {image}: {image}: not found")
        return None

    def api_snapshots(self) -> dict[str, bool]:
        """The final snapshots deletions left, each with whether it can still be read (its key
        is not scheduled for deletion: once the key is gone, so is the data)."""
        return {name: key not in self.pending_keys for name, key in sorted(self.snapshots.items())}

    def delete_named(self, type_name: str, state: dict, not_found: str) -> None:
        """An object deleted outside Terraform: its name is free again, or AWS's `not_found` error."""
        identity = unique_name(type_name, state)
        if identity not in self.names:
            raise LookupError(not_found)
        self.names.discard(identity)

    def api_register_task_definition(self, family: str) -> int:
        """aws ecs register-task-definition of `family` (what CodePipeline's ECS action does for a
        deployment): its new revision, ACTIVE and the family's newest."""
        self.revisions[family] = self.revisions.get(family, 0) + 1
        return self.revisions[family]

    def api_delete_ssm_parameter(self, name: str) -> None:
        """aws ssm delete-parameter --name NAME."""
        self.delete_named("aws_ssm_parameter", {"name": name}, f"ParameterNotFound: {name}")

    def api_delete_db_instance(self, identifier: str) -> None:
        """aws rds delete-db-instance --db-instance-identifier ID --skip-final-snapshot."""
        self.delete_named("aws_db_instance", {"identifier": identifier},
                          f"DBInstanceNotFound: DBInstance {identifier} not found.")
        self.db_members.pop(identifier, None)

    def api_keys_pending_deletion(self) -> list[str]:
        """The KMS key ARNs scheduled for deletion (a destroy of an aws_kms_key schedules it)."""
        return sorted(self.pending_keys)

    def api_delete_kms_alias(self, name: str) -> None:
        """aws kms delete-alias --alias-name NAME (the key keeps whatever other aliases it has)."""
        self.delete_named("aws_kms_alias", {"name": name},
                          f"NotFoundException: Alias arn:aws:kms:{REGION}:{ACCOUNT_ID}:{name} is not found.")

    def set_aliases(self, distribution: str | None, aliases) -> None:
        self.aliases = {a: d for a, d in self.aliases.items() if d != distribution}
        self.aliases.update({str(a).lower(): distribution for a in aliases})

    def api_update_distribution_aliases(self, distribution: str, aliases: list[str]) -> None:
        """aws cloudfront update-distribution of `distribution` with these alternate domain names."""
        taken = self.claimed_aliases(distribution, aliases)
        if taken:
            raise LookupError("CNAMEAlreadyExists: One or more of the CNAMEs you provided are already associated "
                              "with a different resource.")
        self.set_aliases(distribution, aliases)

    def api_aliases(self, distribution: str) -> list[str]:
        return sorted(a for a, d in self.aliases.items() if d == distribution)

    def api_delete_record(self, zone_id: str, name: str, type: str) -> None:
        """aws route53 change-resource-record-sets with a DELETE of the record set `name` `type`."""
        self.delete_named("aws_route53_record", {"zone_id": zone_id, "name": name, "type": type},
                          f"InvalidChangeBatch: [Tried to delete resource record set [name='{name.rstrip('.')}.', "
                          f"type='{type}'] but it was not found]")

    def api_create_service_linked_role(self, service: str) -> None:
        """aws iam create-service-linked-role --aws-service-name SERVICE (what init-backend.sh runs)."""
        self.service_linked_roles.add(service)


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
        # The region of what names none (its provider's): the run's provider configurations share
        # this session, and the generated roots add only us-east-1 (CloudFront's certificate) to
        # the environment's region, so the first other region configured is the environment's.
        self.region: str | None = None

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
        region = (config or {}).get("region")
        if isinstance(region, str) and region != "us-east-1" and self.region is None:
            self.region = region
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
