"""Values the stand-in invents where AWS would decide them: ids, ARNs, generated names, endpoints.

Every value derives from a seed (a hash of the resource type and the values it was planned or
configured with), so the same configuration gets the same values on every run and two
different resources get different ones.  Formats follow what AWS returns closely enough for
configurations to build on them (`vpc-0123...`, `arn:aws:iam::123456789012:role/app`,
`app/<name>/<hex>` ALB suffixes, `<id>.<hash>.<region>.rds.amazonaws.com:5432` endpoints);
nothing checks them against AWS.

Values travel as decoded cty msgpack: an unknown value is an msgpack ExtType (code 0, or
another code for Terraform's refined unknowns); a `dynamic` value is `[type JSON, value]`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cached_property

import msgpack

UNKNOWN = msgpack.ExtType(0, b"\x00")
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
TIMESTAMP = "2025-01-01T00:00:00Z"
EMPTY_POLICY = '{"Version":"2012-10-17","Statement":[]}'


def is_unknown(value) -> bool:
    return isinstance(value, msgpack.ExtType)


def known_str(value) -> str | None:
    return value if isinstance(value, str) and value else None


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# --- what AWS calls things -----------------------------------------------------------------

# Resource types whose id is an EC2-style "<prefix>-<17 hex digits>", with the ARN resource
# type where the resource has an ARN.
EC2_IDS = {
    "aws_vpc": ("vpc", "vpc"), "aws_subnet": ("subnet", "subnet"),
    "aws_security_group": ("sg", "security-group"), "aws_default_security_group": ("sg", "security-group"),
    "aws_internet_gateway": ("igw", "internet-gateway"),
    "aws_egress_only_internet_gateway": ("eigw", "egress-only-internet-gateway"),
    "aws_nat_gateway": ("nat", "natgateway"), "aws_route_table": ("rtb", "route-table"),
    "aws_default_route_table": ("rtb", "route-table"), "aws_route_table_association": ("rtbassoc", None),
    "aws_eip": ("eipalloc", "elastic-ip"), "aws_eip_association": ("eipassoc", None),
    "aws_instance": ("i", "instance"), "aws_vpc_endpoint": ("vpce", "vpc-endpoint"),
    "aws_network_interface": ("eni", "network-interface"), "aws_flow_log": ("fl", "vpc-flow-log"),
    "aws_network_acl": ("acl", "network-acl"), "aws_default_network_acl": ("acl", "network-acl"),
    "aws_vpc_security_group_ingress_rule": ("sgr", "security-group-rule"),
    "aws_vpc_security_group_egress_rule": ("sgr", "security-group-rule"),
    "aws_launch_template": ("lt", "launch-template"), "aws_ebs_volume": ("vol", "volume"),
    "aws_vpc_peering_connection": ("pcx", "vpc-peering-connection"),
    "aws_ec2_transit_gateway": ("tgw", "transit-gateway"),
}
# `<attribute>_id` attributes that name an EC2 object use its id prefix.
ATTR_ID_PREFIX = {"vpc": "vpc", "subnet": "subnet", "security_group": "sg", "network_interface": "eni",
                  "allocation": "eipalloc", "association": "eipassoc", "route_table": "rtb",
                  "instance": "i", "internet_gateway": "igw", "nat_gateway": "nat", "image": "ami",
                  "network_acl": "acl", "vpc_endpoint": "vpce", "prefix_list": "pl"}
# Types whose id is their ARN.
ID_IS_ARN = {"aws_lb", "aws_lb_target_group", "aws_lb_listener", "aws_lb_listener_rule",
             "aws_ecs_cluster", "aws_ecs_service", "aws_sns_topic", "aws_sns_topic_subscription",
             "aws_secretsmanager_secret", "aws_acm_certificate", "aws_codebuild_project",
             "aws_codestarconnections_connection", "aws_iam_policy", "aws_cloudtrail"}
# The attribute holding a resource's own name, in order of preference.
NAME_KEYS = ("name", "bucket", "family", "identifier", "replication_group_id", "alarm_name",
             "dashboard_name", "cluster_identifier", "function_name", "key_name", "role_name")
# Hosted zones AWS uses for alias records (ALB per region, CloudFront and S3 websites).
ELB_ZONES = {"us-east-1": "Z35SXDOTRQ7X7K", "us-west-2": "Z1H1FL5HABSF5", "eu-west-1": "Z32O12XQLNTSW2",
             "ap-northeast-2": "ZWKZPGTI48KDX", "ap-northeast-1": "Z14GRHDCWA56QT"}
HOSTED_ZONES = {"cloudfront": "Z2FDTNDATAQYW2", "s3": "Z3AQBSTGFYJSTF"}
CACHE_REGION = {"us-east-1": "use1", "us-west-2": "usw2", "eu-west-1": "euw1",
                "ap-northeast-2": "apn2", "ap-northeast-1": "apn1"}
DEFAULT_PORTS = {"postgres": 5432, "aurora-postgresql": 5432, "mysql": 3306, "aurora-mysql": 3306,
                 "mariadb": 3306, "redis": 6379, "valkey": 6379, "memcached": 11211}


def ecs_family(task_definition: str) -> str:
    """The family of an ECS task definition given as family, family:revision or ARN."""
    return task_definition.rsplit("/", 1)[-1].split(":", 1)[0]


class Inventor:
    """Invents the values of one object: a resource being applied or a data source being read.

    `obj` is the object as planned (or configured); `session` (see provider.Session) holds
    what the run has created so far, for values that depend on it (task definition revisions,
    default tags).
    """

    def __init__(self, kind: str, type_name: str, obj: dict, seed: str, session):
        self.kind, self.type_name, self.obj, self.seed, self.session = kind, type_name, obj, seed, session
        parts = type_name.split("_")
        self.service = parts[1] if len(parts) > 1 else "aws"
        self.short = "-".join(parts[1:]) or type_name

    def hex(self, salt: str, n: int = 17) -> str:
        return digest(self.seed, salt)[:n]

    def uuid(self, salt: str) -> str:
        return str(uuid.UUID(self.hex(salt, 32)))

    def stamp(self, salt: str) -> str:
        """The 26 digits the AWS provider appends to a name prefix."""
        return "2025" + str(int(self.hex(salt, 24), 16))[-22:].rjust(22, "0")

    def get(self, name: str) -> str | None:
        return known_str(self.obj.get(name))

    # --- identity: name, id, ARN ---------------------------------------------------------

    def generated_name(self, key: str) -> str:
        """What AWS names a resource whose `key` is unset: `<key>_prefix` + unique digits."""
        return (self.get(f"{key}_prefix") or "terraform-") + self.stamp(key)

    @cached_property
    def name(self) -> str | None:
        if self.kind == "data" and self.type_name == "aws_ecs_task_definition":
            return ecs_family(self.get("task_definition") or self.hex("family"))
        for key in NAME_KEYS:
            if key in self.obj:
                value = self.obj[key]
                if is_unknown(value):
                    return self.generated_name(key)
                if known_str(value):
                    return value
        return None

    @cached_property
    def region(self) -> str:
        return self.get("region") or getattr(self.session, "region", None) or REGION

    @cached_property
    def id(self) -> str:
        if self.type_name in EC2_IDS:
            return f"{EC2_IDS[self.type_name][0]}-{self.hex('id')}"
        if self.type_name in ID_IS_ARN:
            return self.arn
        custom = ID_FORMATS.get(self.type_name)
        if custom:
            return custom(self)
        return self.name or f"{self.short}-{self.hex('id')}"

    @cached_property
    def arn(self) -> str:
        custom = ARN_FORMATS.get(self.type_name)
        if custom:
            return custom(self)
        if EC2_IDS.get(self.type_name, (None, None))[1]:
            return self.regional("ec2", f"{EC2_IDS[self.type_name][1]}/{self.id}")
        resource = "-".join(self.type_name.split("_")[2:]) or self.service
        return self.regional(self.service, f"{resource}/{self.name or self.hex('arn')}")

    def regional(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{resource}"

    @staticmethod
    def global_arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}::{ACCOUNT_ID}:{resource}"

    @cached_property
    def revision(self) -> int:
        """A new task definition is the family's next revision; a data source reads the latest."""
        if self.kind == "data":
            return self.session.latest_revision(self.name) or 1
        return self.session.next_revision(self.name)

    @cached_property
    def port(self) -> int:
        port = self.obj.get("port")
        if isinstance(port, int):
            return port
        engine = self.get("engine") or ("redis" if self.service == "elasticache" else "")
        return DEFAULT_PORTS.get(engine, 443)

    # --- walking a value by its type -----------------------------------------------------

    def complete_block(self, block: dict, obj: dict, path: tuple = ()) -> dict:
        """`obj` with every unknown value inside it replaced by an invented one."""
        out = dict(obj)
        for name, attr in block.get("attributes", {}).items():
            optional = attr.get("optional", False) or attr.get("required", False)
            out[name] = self.complete(attr["type"], out.get(name), path + (name,), out, optional)
        for name, nested in block.get("block_types", {}).items():
            value, mode, inner = out.get(name), nested["nesting_mode"], nested["block"]
            if is_unknown(value):
                value = self.unknown_block(mode, inner, path + (name,))
            elif value is None:
                continue
            elif mode in ("single", "group"):
                value = self.complete_block(inner, value, path + (name,))
            elif mode == "map":
                value = {k: self.complete_block(inner, v, path + (name,)) for k, v in value.items()}
            else:
                value = [self.complete_block(inner, v, path + (name,)) for v in value]
            out[name] = value
        return out

    def unknown_block(self, mode: str, block: dict, path: tuple):
        if mode in ("single", "group"):
            return self.complete_block(block, {name: UNKNOWN for name in block.get("attributes", {})}, path)
        return {} if mode == "map" else []

    def complete(self, cty, value, path: tuple, parent: dict, optional: bool = False):
        if is_unknown(value):
            return self.invent(cty, path, parent, optional)
        if value is None or isinstance(cty, str) and cty != "dynamic":
            return value
        if cty == "dynamic":
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes | str)):
                return value
            return [value[0], self.complete(json.loads(value[0]), value[1], path, parent)]
        kind, inner = cty
        if kind in ("list", "set"):
            return [self.complete(inner, v, path, parent) for v in value]
        if kind == "map":
            return {k: self.complete(inner, v, path, parent) for k, v in value.items()}
        if kind == "tuple":
            return [self.complete(t, v, path, parent) for t, v in zip(inner, value, strict=True)]
        return {k: self.complete(t, value.get(k), path + (k,), value) for k, t in inner.items()}

    def invent(self, cty, path: tuple, parent: dict, optional: bool = False):
        """A plausible, fully known value of type `cty` for the attribute at `path`."""
        special = SPECIAL.get((self.type_name, ".".join(path)))
        if special:
            return special(self, parent)
        if cty == "string":
            return self.string(path)
        if cty == "number":
            return self.number(path)
        if cty == "bool":
            return False
        if cty == "dynamic":
            return [b'"string"', self.string(path)]
        kind, inner = cty
        if kind in ("list", "set"):
            # AWS leaves unset optional lists empty; a computed-only list usually holds something.
            return [] if optional else [self.invent(inner, path, parent)]
        if kind == "map":
            return self.tags_all() if path == ("tags_all",) else {}
        if kind == "tuple":
            return [self.invent(t, path, parent) for t in inner]
        obj = {k: None for k in inner}
        return {k: self.invent(t, path + (k,), obj) for k, t in inner.items()}

    def tags_all(self) -> dict:
        tags = self.obj.get("tags")
        return dict(self.session.default_tags, **(tags if isinstance(tags, dict) else {}))

    def number(self, path: tuple) -> int:
        name = path[-1]
        if name == "revision" and self.service == "ecs":
            return self.revision
        if name == "port":
            return self.port
        return 1

    def string(self, path: tuple) -> str:
        name, top = path[-1], len(path) == 1
        if top and name in ("id", "arn"):
            return getattr(self, name)
        if top and name in NAME_KEYS:
            return self.generated_name(name)
        if top and name in TOP_LEVEL:
            return TOP_LEVEL[name](self)
        if name == "region":
            return self.region
        if name in ("account_id", "owner_id", "owner_account_id", "registry_id"):
            return ACCOUNT_ID
        if name.endswith("_arn"):
            return self.regional(self.service, f"{name[:-4].replace('_', '-')}/{self.hex(name)}")
        if name in ("json", "minified_json", "policy") or name.endswith(("_json", "_policy")):
            return EMPTY_POLICY
        if "cidr" in name:
            return "10.0.0.0/16"
        if name.endswith("_ip") or name in ("ip_address", "private_ip", "public_ip"):
            first = "203.0.113" if "public" in name else "10.0." + str(int(self.hex(name, 2), 16))
            return f"{first}.{int(self.hex(name + 'ip', 2), 16) % 254 + 1}"
        if name.endswith("_dns"):
            return f"ip-10-0-{int(self.hex(name, 2), 16)}-{int(self.hex(name, 4), 16) % 254 + 1}.ec2.internal"
        if name.endswith(("_date", "_time", "_timestamp", "_at")) or name in ("created", "last_modified"):
            return TIMESTAMP
        if name in ("etag", "version_id", "checksum") or name.endswith(("_hash", "_sha256")):
            return self.hex(name, 32)
        if name == "id" or name.endswith("_id"):
            stem = name[:-3] if name != "id" else path[-2] if len(path) > 1 else self.short
            prefix = ATTR_ID_PREFIX.get(stem, stem.replace("_", "-"))
            return f"{prefix}-{self.hex('.'.join(path))}"
        if name == "url" or name.endswith("_url"):
            return f"https://{self.short}-{self.hex(name, 8)}.{self.region}.amazonaws.com"
        return f"{name.replace('_', '-')}-{self.hex('.'.join(path), 8)}"


# --- per-type formats ----------------------------------------------------------------------


def _lb_arn(i: Inventor) -> str:
    lb_type = {"network": "net", "gateway": "gwy"}.get(i.get("load_balancer_type") or "", "app")
    return i.regional("elasticloadbalancing", f"loadbalancer/{lb_type}/{i.name}/{i.hex('arn', 16)}")


def _child_arn(i: Inventor, parent_key: str, old: str, new: str) -> str:
    """A listener's ARN extends its load balancer's, a rule's its listener's."""
    parent = i.get(parent_key) or i.regional("elasticloadbalancing", f"{old}/app/{i.short}/{i.hex('parent', 16)}")
    return parent.replace(f":{old}/", f":{new}/", 1) + "/" + i.hex("arn", 16)


def _arn_suffix(i: Inventor) -> str:
    resource = i.arn.split(":", 5)[5]
    return resource.removeprefix("loadbalancer/")


def _record_fqdn(i: Inventor) -> str:
    return (i.get("name") or i.hex("fqdn")).rstrip(".").lower()


def _dns_name(i: Inventor) -> str:
    if i.type_name == "aws_lb":
        internal = "internal-" if i.obj.get("internal") is True else ""
        return f"{internal}{i.name}-{int(i.hex('dns', 8), 16)}.{i.region}.elb.amazonaws.com"
    return f"{i.name or i.short}-{i.hex('dns', 8)}.{i.region}.amazonaws.com"


def _zone_id(i: Inventor) -> str:
    if i.type_name == "aws_lb":
        return ELB_ZONES.get(i.region, ELB_ZONES[REGION])
    return i.id if i.type_name == "aws_route53_zone" else "Z" + i.hex("zone", 13).upper()


def _address(i: Inventor) -> str:
    if i.service == "db":
        return f"{i.name}.{i.hex('address', 12)}.{i.region}.rds.amazonaws.com"
    return f"{i.name or i.short}.{i.hex('address', 12)}.{i.region}.amazonaws.com"


def _endpoint(i: Inventor) -> str:
    return f"{_address(i)}:{i.port}"


def _cache_endpoint(role: str):
    def make(i: Inventor) -> str:
        return f"{role}.{i.name}.{i.hex('cache', 6)}.{CACHE_REGION.get(i.region, 'cache')}.cache.amazonaws.com"
    return make


def _validation_record(part: str):
    """ACM validation records: a wildcard shares its base domain's record, as in ACM."""
    def make(i: Inventor, option: dict) -> str:
        base = (known_str(option.get("domain_name")) or i.hex("domain")).removeprefix("*.")
        token = digest(i.type_name, base, part)
        if part == "name":
            return f"_{token[:32]}.{base}."
        return f"_{token[:32]}.{token[32:42]}.acm-validations.aws."
    return make


def _task_definition_arn(i: Inventor) -> str:
    return i.regional("ecs", f"task-definition/{i.name}:{i.revision}")


def _s3_arn(i: Inventor) -> str:
    return f"arn:aws:s3:::{i.name}"


TOP_LEVEL = {
    "arn_suffix": _arn_suffix,
    "dns_name": _dns_name,
    "zone_id": _zone_id,
    "fqdn": _record_fqdn,
    "address": _address,
    "endpoint": _endpoint,
    "primary_endpoint_address": _cache_endpoint("master"),
    "reader_endpoint_address": _cache_endpoint("replica"),
    "configuration_endpoint_address": _cache_endpoint("clustercfg"),
    "repository_url": lambda i: f"{ACCOUNT_ID}.dkr.ecr.{i.region}.amazonaws.com/{i.name}",
    "key_id": lambda i: i.id,
    "arn_without_revision": lambda i: i.regional("ecs", f"task-definition/{i.name}"),
    "bucket_domain_name": lambda i: f"{i.name}.s3.amazonaws.com",
    "bucket_regional_domain_name": lambda i: f"{i.name}.s3.{i.region}.amazonaws.com",
    "hosted_zone_id": lambda i: HOSTED_ZONES.get(i.service) or "Z" + i.hex("hz", 13).upper(),
}

def _master_user_secret(i: Inventor, _parent) -> list:
    """RDS keeps the master password in Secrets Manager only when asked to."""
    if i.obj.get("manage_master_user_password") is not True:
        return []
    return [{"kms_key_id": i.get("master_user_secret_kms_key_id") or i.regional("kms", f"key/{i.uuid('secret')}"),
             "secret_arn": i.regional("secretsmanager", f"secret:rds!db-{i.uuid('secret')}-{i.hex('s', 6)}"),
             "secret_status": "active"}]


SPECIAL = {
    ("aws_default_security_group", "name"): lambda i, _: "default",
    ("aws_db_instance", "master_user_secret"): _master_user_secret,
    ("aws_rds_cluster", "master_user_secret"): _master_user_secret,
    ("aws_cloudfront_distribution", "domain_name"):
        lambda i, _: f"d{int(i.hex('domain', 20), 16):x}"[:14].ljust(14, "0") + ".cloudfront.net",
    ("aws_acm_certificate", "domain_validation_options.resource_record_name"): _validation_record("name"),
    ("aws_acm_certificate", "domain_validation_options.resource_record_value"): _validation_record("value"),
    ("aws_acm_certificate", "domain_validation_options.resource_record_type"): lambda i, _: "CNAME",
    ("aws_ecs_task_definition", "status"): lambda i, _: "ACTIVE",
    ("aws_ecs_task_definition", "family"): lambda i, _: i.name,
}

ID_FORMATS = {
    "aws_kms_key": lambda i: i.uuid("key"),
    "aws_db_instance": lambda i: "db-" + i.hex("id", 26).upper(),
    "aws_cloudfront_distribution": lambda i: "E" + i.hex("id", 13).upper(),
    "aws_cloudfront_origin_access_control": lambda i: "E" + i.hex("id", 13).upper(),
    "aws_cloudfront_cache_policy": lambda i: i.uuid("id"),
    "aws_cloudfront_origin_request_policy": lambda i: i.uuid("id"),
    "aws_cloudfront_response_headers_policy": lambda i: i.uuid("id"),
    "aws_guardduty_detector": lambda i: i.hex("id", 32),
    "aws_route53_zone": lambda i: "Z0" + i.hex("id", 19).upper(),
    "aws_route53_record": lambda i: f"{i.get('zone_id')}_{i.get('name')}_{i.get('type')}",
    "aws_iam_role_policy": lambda i: f"{i.get('role')}:{i.name}",
    "aws_iam_role_policy_attachment": lambda i: f"{i.get('role')}-{i.stamp('id')}",
    "aws_budgets_budget": lambda i: f"{ACCOUNT_ID}:{i.name}",
    "aws_appautoscaling_target": lambda i: i.get("resource_id") or i.hex("id"),
    "aws_acm_certificate_validation": lambda i: TIMESTAMP,
    "aws_ecs_cluster_capacity_providers": lambda i: i.get("cluster_name") or i.hex("id"),
    "aws_ecr_lifecycle_policy": lambda i: i.get("repository") or i.hex("id"),
    "aws_sns_topic_subscription": lambda i: i.arn,
}

ARN_FORMATS = {
    "aws_iam_role": lambda i: i.global_arn("iam", f"role/{i.name}"),
    "aws_iam_policy": lambda i: i.global_arn("iam", f"policy/{i.name}"),
    "aws_iam_user": lambda i: i.global_arn("iam", f"user/{i.name}"),
    "aws_iam_instance_profile": lambda i: i.global_arn("iam", f"instance-profile/{i.name}"),
    # IAM names an OIDC provider by its issuer's host and path: one per issuer and account.
    "aws_iam_openid_connect_provider": lambda i: i.global_arn(
        "iam", "oidc-provider/" + (i.get("url") or "").removeprefix("https://")),
    "aws_s3_bucket": _s3_arn,
    "aws_lb": _lb_arn,
    "aws_lb_target_group": lambda i: i.regional("elasticloadbalancing",
                                                f"targetgroup/{i.name}/{i.hex('arn', 16)}"),
    "aws_lb_listener": lambda i: _child_arn(i, "load_balancer_arn", "loadbalancer", "listener"),
    "aws_lb_listener_rule": lambda i: _child_arn(i, "listener_arn", "listener", "listener-rule"),
    "aws_ecs_cluster": lambda i: i.regional("ecs", f"cluster/{i.name}"),
    "aws_ecs_service": lambda i: i.regional(
        "ecs", f"service/{(i.get('cluster') or 'default').rsplit('/', 1)[-1]}/{i.name}"),
    "aws_ecs_task_definition": _task_definition_arn,
    "aws_kms_key": lambda i: i.regional("kms", f"key/{i.id}"),
    "aws_kms_alias": lambda i: i.regional("kms", i.name),
    "aws_cloudwatch_log_group": lambda i: i.regional("logs", f"log-group:{i.name}"),
    "aws_cloudwatch_metric_alarm": lambda i: i.regional("cloudwatch", f"alarm:{i.name}"),
    "aws_cloudwatch_dashboard": lambda i: i.global_arn("cloudwatch", f"dashboard/{i.name}"),
    "aws_sns_topic": lambda i: i.regional("sns", i.name),
    "aws_sns_topic_subscription": lambda i: f"{i.get('topic_arn') or i.regional('sns', 'topic')}:{i.uuid('arn')}",
    "aws_secretsmanager_secret": lambda i: i.regional("secretsmanager", f"secret:{i.name}-{i.hex('arn', 6)}"),
    "aws_acm_certificate": lambda i: i.regional("acm", f"certificate/{i.uuid('arn')}"),
    "aws_db_instance": lambda i: i.regional("rds", f"db:{i.name}"),
    "aws_db_subnet_group": lambda i: i.regional("rds", f"subgrp:{i.name}"),
    "aws_db_parameter_group": lambda i: i.regional("rds", f"pg:{i.name}"),
    "aws_elasticache_replication_group": lambda i: i.regional("elasticache", f"replicationgroup:{i.name}"),
    "aws_elasticache_subnet_group": lambda i: i.regional("elasticache", f"subnetgroup:{i.name}"),
    "aws_ecr_repository": lambda i: i.regional("ecr", f"repository/{i.name}"),
    "aws_codebuild_project": lambda i: i.regional("codebuild", f"project/{i.name}"),
    "aws_codepipeline": lambda i: i.regional("codepipeline", i.name),
    "aws_codestarconnections_connection": lambda i: i.regional("codestar-connections",
                                                               f"connection/{i.uuid('arn')}"),
    "aws_cloudtrail": lambda i: i.regional("cloudtrail", f"trail/{i.name}"),
    "aws_cloudfront_distribution": lambda i: i.global_arn("cloudfront", f"distribution/{i.id}"),
    "aws_cloudfront_origin_access_control": lambda i: i.global_arn("cloudfront", f"origin-access-control/{i.id}"),
    "aws_cloudfront_cache_policy": lambda i: i.global_arn("cloudfront", f"cache-policy/{i.id}"),
    "aws_cloudfront_origin_request_policy": lambda i: i.global_arn("cloudfront", f"origin-request-policy/{i.id}"),
    "aws_cloudfront_response_headers_policy": lambda i: i.global_arn("cloudfront", f"response-headers-policy/{i.id}"),
    "aws_route53_zone": lambda i: f"arn:aws:route53:::hostedzone/{i.id}",
    "aws_ssm_parameter": lambda i: i.regional("ssm", "parameter/" + (i.name or "").lstrip("/")),
    "aws_guardduty_detector": lambda i: i.regional("guardduty", f"detector/{i.id}"),
    "aws_budgets_budget": lambda i: i.global_arn("budgets", f"budget/{i.name}"),
    "aws_appautoscaling_policy": lambda i: i.regional(
        "autoscaling", f"scalingPolicy:{i.uuid('arn')}:resource/{i.get('resource_id')}:policyName/{i.name}"),
}
