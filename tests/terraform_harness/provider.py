"""What the stand-in hashicorp/aws provider answers, independent of gRPC plumbing.

Values travel as cty msgpack.  Terraform encodes an object as a map holding *every*
attribute and block of the schema (nulls included), so planning and reading only
replace values in the decoded map and encode it again.  An unknown value is msgpack
ext type 0; any ext type received is treated as unknown (newer Terraform sends
refined unknowns with another ext code), so it round-trips unchanged.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import msgpack

from . import protocol as pb

PROVIDER_ADDR = "registry.terraform.io/hashicorp/aws"
SCHEMA_PATH = (Path(__file__).resolve().parents[2] / "codemate_tfgen" / "data"
               / "aws_provider_schema.json.gz")
UNKNOWN = msgpack.ExtType(0, b"\x00")
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


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


def schema_response_bytes() -> bytes:
    """GetProviderSchema response, serialized once (about 4 MB of protobuf)."""
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


def is_unknown(value) -> bool:
    return isinstance(value, msgpack.ExtType)


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
    ("aws_caller_identity", "arn"): f"arn:aws:iam::{ACCOUNT_ID}:user/stand-in",
    ("aws_caller_identity", "user_id"): "AIDASTANDIN0000000000",
    ("aws_region", "name"): REGION,
    ("aws_region", "region"): REGION,
    ("aws_region", "endpoint"): f"ec2.{REGION}.amazonaws.com",
    ("aws_partition", "partition"): "aws",
    ("aws_partition", "dns_suffix"): "amazonaws.com",
    ("aws_partition", "reverse_dns_prefix"): "com.amazonaws",
    ("aws_availability_zones", "names"): [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
    ("aws_availability_zones", "zone_ids"): ["use1-az1", "use1-az2", "use1-az4"],
    ("aws_elb_service_account", "arn"): "arn:aws:iam::127311923021:root",
    ("aws_route53_zone", "zone_id"): "Z0123456789STANDIN",
    ("aws_route53_zone", "name_servers"): ["ns-1.awsdns-00.com", "ns-2.awsdns-00.net"],
    ("aws_ami", "id"): "ami-0123456789abcdef0",
}


def placeholder(cty, name: str, type_name: str):
    """A plausible, fully known value of a cty type for a computed data source attribute."""
    if isinstance(cty, str):
        if cty == "string":
            return placeholder_string(name, type_name)
        return {"number": 1, "bool": False}.get(cty, None)
    kind, inner = cty[0], cty[1]
    if kind in ("list", "set"):
        return [] if isinstance(inner, list) else [placeholder(inner, name, type_name)]
    if kind == "map":
        return {}
    if kind == "object":
        return {k: placeholder(t, k, type_name) for k, t in inner.items()}
    return None  # tuple and dynamic: leave null


def placeholder_string(name: str, type_name: str) -> str:
    service = type_name.split("_")[1] if "_" in type_name else "aws"
    if name == "arn" or name.endswith("_arn"):
        return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{type_name[4:]}/stand-in"
    if name in ("json", "minified_json", "policy") or name.endswith("_json"):
        return '{"Version":"2012-10-17","Statement":[]}'
    if name in ("account_id", "owner_id"):
        return ACCOUNT_ID
    if name == "region":
        return REGION
    if "cidr" in name:
        return "10.0.0.0/16"
    return f"{type_name}-{name}-stand-in"


def policy_document_json(config: dict) -> str:
    """aws_iam_policy_document.json rendered from its statement blocks (known values only)."""
    statements = []
    for st in config.get("statement") or []:
        out = {"Effect": st.get("effect") or "Allow"}
        for key, field in (("Sid", "sid"), ("Action", "actions"), ("NotAction", "not_actions"),
                           ("Resource", "resources"), ("NotResource", "not_resources")):
            if st.get(field) is not None and not is_unknown(st.get(field)):
                out[key] = st[field]
        principals = {}
        for p in st.get("principals") or []:
            principals.setdefault(p.get("type"), []).extend(p.get("identifiers") or [])
        if principals:
            out["Principal"] = principals
        statements.append(out)
    return json.dumps({"Version": config.get("version") or "2012-10-17",
                       "Statement": statements}, sort_keys=True)


def read_data(type_name: str, config_dv):
    """(state msgpack bytes, diagnostics): config with every null computed attribute filled."""
    block = block_for("data", type_name)
    config = decode(config_dv)
    if block is None or not isinstance(config, dict):
        return b"", [diagnostic("Unknown data source", type_name)]
    state = dict(config)
    for name, attr in block.get("attributes", {}).items():
        if attr.get("computed") and state.get(name) is None:
            known = KNOWN_DATA.get((type_name, name))
            state[name] = known if known is not None else placeholder(attr["type"], name, type_name)
    if type_name == "aws_iam_policy_document":
        state["json"] = state["minified_json"] = policy_document_json(config)
    if state.get("id") is None and "id" in block.get("attributes", {}):
        state["id"] = f"{type_name}-stand-in"
    return encode(state), []
