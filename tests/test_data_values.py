"""The data, storage and monitoring parts carry the design document's values into every environment.

Every environment is rendered in memory and its HCL parsed back (python-hcl2). A value is
followed from the resource in the module through the module call to terraform.tfvars, so the
test checks what Terraform would actually receive, not only the spec. The expected values are
the document's ("데이터베이스 및 캐시", "스토리지", "모니터링 및 로깅", "데이터베이스 백업 전략");
staging has none in the document and follows its spec (prod's topology at dev's sizes).
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

import hcl2
import pytest
from conftest import SPECS, planned, project_of

from codemate_tfgen import hcl, pipeline

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

# --- the document's values, per environment --------------------------------------------------

GIB = 1024**3
EXPECTED: dict[str, dict[str, Any]] = {
    "dev": {
        "rds_class": "db.t4g.micro", "rds_memory_gib": 1, "storage": 20, "max_storage": None,
        "multi_az": False, "backup_days": 3, "final_snapshot": False, "deletion_protection": False,
        "redis_node": "cache.t4g.micro", "cluster_mode": False, "replicas": 0, "snapshot_days": 1,
        "log_days": 7, "origin": "https://codemate-dev.code1398.io",
    },
    "staging": {
        "rds_class": "db.t4g.micro", "rds_memory_gib": 1, "storage": 20, "max_storage": None,
        "multi_az": True, "backup_days": 3, "final_snapshot": True, "deletion_protection": False,
        "redis_node": "cache.t4g.micro", "cluster_mode": True, "replicas": 1, "snapshot_days": 1,
        "log_days": 14, "origin": "https://codemate-staging.code1398.io",
    },
    "prod": {
        "rds_class": "db.t4g.small", "rds_memory_gib": 2, "storage": 50, "max_storage": 100,
        "multi_az": True, "backup_days": 7, "final_snapshot": True, "deletion_protection": True,
        "redis_node": "cache.t4g.small", "cluster_mode": True, "replicas": 1, "snapshot_days": 5,
        "log_days": 30, "origin": "https://codemate.code1398.io",
    },
}
ENVS = sorted(EXPECTED)
KST = 9  # hours ahead of UTC
ACCOUNT = "<account>"  # data.aws_caller_identity is only known at apply time


# --- rendering and a small evaluator for the expressions the templates use -------------------


@cache
def files() -> dict[str, str]:
    return pipeline.build(project_of(SPECS), ())[0]


@cache
def parsed(path: str) -> dict:
    return hcl2.loads(files()[path])


def _blocks(doc: dict, kind: str) -> dict[str, Any]:
    """Blocks of one kind by label; resources and data sources of one type are merged."""
    out: dict[str, Any] = {}
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            label = label.strip('"')
            if kind in ("resource", "data"):
                out.setdefault(label, {}).update(body)
            else:
                out[label] = body
    return out


def _locals(doc: dict) -> dict[str, Any]:
    return {k: v for entry in doc.get("locals", []) for k, v in entry.items() if not k.startswith("__")}


class Attrs(dict):
    """A dict whose keys read as attributes, for var.database.instance_class; an attribute left
    out reads as null, like an optional() object attribute."""

    def __getattr__(self, key: str) -> Any:
        value = self.get(key)
        return Attrs(value) if isinstance(value, dict) else value


class Unknown(Exception):
    """A value Terraform only knows at apply time (data sources, resources, other modules)."""


FUNCTIONS = {"startswith": str.startswith, "split": lambda sep, text: text.split(sep),
             "tostring": str, "toset": list}


class Scope:
    """Resolves var.* and local.* of one module (or root module) down to literal values."""

    def __init__(self, variables, local_exprs: dict[str, Any]):
        self.variables = variables  # name -> value (callable for lazy lookup)
        self.local_exprs = local_exprs

    def var(self, name: str) -> Any:
        return self.variables(name)

    def local(self, name: str) -> Any:
        return self.eval(self.local_exprs[name])

    def eval(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.eval(v) for v in value]
        if isinstance(value, dict):
            return {k: self.eval(v) for k, v in value.items() if not k.startswith("__")}
        if not isinstance(value, str):
            return value
        if _whole_interpolation(value):
            return self.expression(value[2:-1])
        if value.startswith('"') and value.endswith('"'):
            return re.sub(r"\$\{([^}]*)\}", lambda m: self._text(m.group(1)), value[1:-1])
        return value

    def _text(self, expr: str) -> str:
        try:
            return str(self.expression(expr))
        except Unknown:
            return ACCOUNT if expr == "local.account_id" else f"<{expr}>"

    def expression(self, expr: str) -> Any:
        """The HCL subset of the templates' conditions, as Python."""
        if re.search(r"\b(data|module|each|aws_\w+)\.", expr):
            raise Unknown(expr)
        ternary = re.fullmatch(r"(.+?) \? (.+?) : (.+)", expr)
        if ternary:
            cond, yes, no = ternary.groups()
            return self.expression(yes) if self.expression(cond) else self.expression(no)
        # String templates inside the expression become Python literals of their value.
        expr = _STRING.sub(lambda m: repr(self.eval(m.group())), expr)
        code = re.sub(r"!(?!=)", " not ", expr).replace("||", " or ").replace("&&", " and ")
        code = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", code)))
        names = {"var": _Lookup(self.var), "local": _Lookup(self.local), **FUNCTIONS}
        return eval(code, {"__builtins__": {}}, names)  # noqa: S307 - our own generated HCL


_STRING = re.compile(r'"(?:[^"\\$]|\\.|\$\{[^}]*\}|\$(?!\{))*"')


def _whole_interpolation(value: str) -> bool:
    """"${...}" spanning the whole value (it may contain string templates of its own)."""
    if not value.startswith("${"):
        return False
    depth = 0
    for index, char in enumerate(value[1:], start=1):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index == len(value) - 1
    return False


class _Lookup:
    def __init__(self, get):
        self._get = get

    def __getattr__(self, name: str) -> Any:
        value = self._get(name)
        return Attrs(value) if isinstance(value, dict) else value


def root(env: str) -> Scope:
    base = f"infrastructure/environments/{env}"
    tfvars = {k: v for k, v in parsed(f"{base}/terraform.tfvars").items() if not k.startswith("__")}
    scope = Scope(None, _locals(parsed(f"{base}/main.tf")))
    scope.variables = lambda name: scope.eval(tfvars[name])
    return scope


def module(env: str, call: str) -> tuple[Scope, dict]:
    """The module called `call` in env: a scope resolving its variables from the call's
    arguments (in the root scope) or their defaults, and its parsed main.tf."""
    root_scope = root(env)
    body = _blocks(parsed(f"infrastructure/environments/{env}/main.tf"), "module")[call]
    source = hcl.unquote(body["source"]).removeprefix("../../")
    directory = f"infrastructure/{source}"
    declared = _blocks(parsed(f"{directory}/variables.tf"), "variable")
    main = parsed(f"{directory}/main.tf")
    scope = Scope(None, _locals(main))

    def variable(name: str) -> Any:
        if name in body:
            return root_scope.eval(body[name])
        return scope.eval(declared[name]["default"])

    scope.variables = variable
    return scope, main


def resource(main: dict, rtype: str, name: str) -> dict:
    return _blocks(main, "resource")[rtype][f'"{name}"']


def first(block: list[dict]) -> dict:
    assert len(block) == 1, block
    return block[0]


def minutes_of_week(text: str) -> int:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    day, hours, minutes = text.split(":")
    return days.index(day) * 1440 + int(hours) * 60 + int(minutes)


# --- RDS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_rds_instance(env):
    want = EXPECTED[env]
    scope, main = module(env, "rds")
    db = scope.eval({k: v for k, v in resource(main, "aws_db_instance", "this").items()
                     if k in ("engine", "engine_version", "instance_class", "allocated_storage",
                              "max_allocated_storage", "storage_type", "storage_encrypted", "multi_az",
                              "backup_retention_period", "backup_window", "maintenance_window",
                              "publicly_accessible", "manage_master_user_password", "deletion_protection",
                              "skip_final_snapshot", "db_name")})
    assert db == {
        "engine": "postgres", "engine_version": "17", "instance_class": want["rds_class"],
        "allocated_storage": want["storage"], "max_allocated_storage": want["max_storage"],
        "storage_type": "gp3", "storage_encrypted": True, "multi_az": want["multi_az"],
        "backup_retention_period": want["backup_days"], "backup_window": "18:00-19:00",
        "maintenance_window": "sun:19:30-sun:20:30", "publicly_accessible": False,
        "manage_master_user_password": True, "deletion_protection": want["deletion_protection"],
        # Its name (the key's, known once applied) and the retained backups: tests/test_operations.py.
        "skip_final_snapshot": not want["final_snapshot"],
        "db_name": "codemate",
    }
    # "매일 오전 3시 (KST)": the backup window opens at 03:00 KST.
    start = int(db["backup_window"].split(":")[0])
    assert (start + KST) % 24 == 3
    # The weekly maintenance window falls outside every daily backup window.
    m_start, m_end = (minutes_of_week(part) for part in db["maintenance_window"].split("-"))
    b_start, b_end = (int(t[:2]) * 60 + int(t[3:]) for t in db["backup_window"].split("-"))
    for day in range(7):
        assert m_end <= day * 1440 + b_start or m_start >= day * 1440 + b_end


@pytest.mark.parametrize("env", ENVS)
def test_rds_security(env):
    scope, main = module(env, "rds")
    db = resource(main, "aws_db_instance", "this")
    # No password of ours anywhere: RDS manages it in Secrets Manager.
    assert not {"password", "password_wo"} & set(db)
    assert db["kms_key_id"] == "${aws_kms_key.this.arn}"
    assert resource(main, "aws_kms_key", "this")["enable_key_rotation"] is True
    parameters = {scope.eval(p["name"]): scope.eval(p["value"])
                  for p in resource(main, "aws_db_parameter_group", "this")["parameter"]}
    assert parameters["rds.force_ssl"] == "1"
    assert scope.eval(resource(main, "aws_db_parameter_group", "this")["family"]) == "postgres17"
    call = _blocks(parsed(f"infrastructure/environments/{env}/main.tf"), "module")["rds"]
    assert call["subnet_ids"] == "${module.vpc.private_db_subnet_ids}"
    assert call["security_group_ids"] == ["${module.security_groups.rds_security_group_id}"]
    # Exports wait for the log groups the monitoring module creates; postgresql is among them.
    assert call["enabled_cloudwatch_logs_exports"] == "${module.cloudwatch.rds_log_exports}"
    cloudwatch, _ = module(env, "cloudwatch")
    assert cloudwatch.var("rds_log_exports") == ["postgresql", "upgrade"]


# --- ElastiCache ----------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_elasticache(env):
    want = EXPECTED[env]
    scope, main = module(env, "elasticache")
    group = resource(main, "aws_elasticache_replication_group", "this")
    got = {key: scope.eval(group[key]) for key in (
        "engine", "node_type", "cluster_mode", "num_node_groups", "replicas_per_node_group",
        "num_cache_clusters", "automatic_failover_enabled", "multi_az_enabled", "snapshot_retention_limit",
        "at_rest_encryption_enabled", "transit_encryption_enabled", "parameter_group_name")}
    cluster = want["cluster_mode"]
    assert got == {
        "engine": "redis", "node_type": want["redis_node"],
        "cluster_mode": "enabled" if cluster else "disabled",
        "num_node_groups": 1 if cluster else None,
        "replicas_per_node_group": want["replicas"] if cluster else None,
        "num_cache_clusters": None if cluster else 1 + want["replicas"],
        "automatic_failover_enabled": cluster or want["replicas"] > 0,
        "multi_az_enabled": want["replicas"] > 0,
        "snapshot_retention_limit": want["snapshot_days"],
        "at_rest_encryption_enabled": True, "transit_encryption_enabled": True,
        "parameter_group_name": "default.redis7.cluster.on" if cluster else "default.redis7",
    }
    assert scope.eval(group["engine_version"]).split(".")[0] == "7"
    # The slow log goes to the document's Redis log group.
    delivery = first(first(group["dynamic"])['"log_delivery_configuration"']["content"])
    assert {k: scope.eval(delivery[k]) for k in ("destination_type", "log_type")} == {
        "destination_type": "cloudwatch-logs", "log_type": "slow-log"}
    call = _blocks(parsed(f"infrastructure/environments/{env}/main.tf"), "module")["elasticache"]
    assert call["slow_log_group_name"] == '${module.cloudwatch.log_group_names["elasticache"]}'
    assert call["subnet_ids"] == "${module.vpc.private_db_subnet_ids}"
    assert call["security_group_ids"] == ["${module.security_groups.redis_security_group_id}"]


# --- S3 -------------------------------------------------------------------------------------

LIFECYCLE = {  # bucket: transitions (days, class), expiration days, versioning
    # Every class of user files answers a GET at once: none needs a restore first.
    "files": ([(30, "STANDARD_IA"), (90, "GLACIER_IR")], None, True),
    "logs": ([(90, "GLACIER")], 365, False),
}


@pytest.mark.parametrize("env", ENVS)
def test_bucket_names(env):
    scope, main = module(env, "s3")
    names = {key: scope.eval(resource(main, "aws_s3_bucket", key)["bucket"]) for key in LIFECYCLE}
    assert names == {
        "files": f"codemate-files-{env}-{ACCOUNT}",
        # Environment-qualified as well: names are global and environments may share an account.
        "logs": f"codemate-logs-{env}-{ACCOUNT}",
    }


@pytest.mark.parametrize("env", ENVS)
def test_no_static_assets_bucket(env):
    """Next.js serves _next/static itself (CloudFront caches it in prod): a bucket nothing fills,
    whose 30-day expiry would delete a live release's files, is not created. A bucket a team adds
    for its own purpose is its business."""
    buckets = [address for address in planned(env) if "aws_s3_bucket." in address]
    assert {"module.codepipeline.aws_s3_bucket.artifacts", "module.s3.aws_s3_bucket.files",
            "module.s3.aws_s3_bucket.logs"} <= set(buckets)
    assert not [address for address in buckets if "static" in address or "assets" in address]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("bucket", sorted(LIFECYCLE))
def test_bucket_settings(env, bucket):
    transitions, expiration, versioned = LIFECYCLE[bucket]
    scope, main = module(env, "s3")
    # What Terraform computes: the files bucket's transitions are a local that intelligent
    # tiering would replace.
    [rule] = planned(env)[f"module.s3.aws_s3_bucket_lifecycle_configuration.{bucket}"]["rule"]
    assert rule["status"] == "Enabled"
    assert sorted((t["days"], t["storage_class"]) for t in rule["transition"]) == transitions
    assert [e["days"] for e in rule["expiration"]] == ([expiration] if expiration else [])
    assert f"aws_s3_bucket_intelligent_tiering_configuration.{bucket}" not in " ".join(planned(env))
    versioning = _blocks(main, "resource")["aws_s3_bucket_versioning"]
    if versioned:
        status = first(versioning[f'"{bucket}"']["versioning_configuration"])["status"]
        assert scope.eval(status) == "Enabled"
    else:
        assert f'"{bucket}"' not in versioning
    sse = first(first(resource(main, "aws_s3_bucket_server_side_encryption_configuration", bucket)["rule"])
                ["apply_server_side_encryption_by_default"])
    assert scope.eval(sse["sse_algorithm"]) == "AES256"
    block = resource(main, "aws_s3_bucket_public_access_block", bucket)
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                           "restrict_public_buckets"))
    assert bucket in _blocks(main, "resource")["aws_s3_bucket_ownership_controls"][f'"{bucket}"']["bucket"]
    # Every bucket policy denies requests without TLS.
    policy = _blocks(main, "data")["aws_iam_policy_document"][f'"{bucket}"']
    deny = [s for s in policy["statement"] if scope.eval(s.get("effect")) == "Deny"]
    assert [scope.eval(first(s["condition"])) for s in deny] == [
        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]


@pytest.mark.parametrize("env", ENVS)
def test_files_cors(env):
    scope, main = module(env, "s3")
    rule = scope.eval(first(resource(main, "aws_s3_bucket_cors_configuration", "files")["cors_rule"]))
    assert rule == {"allowed_origins": [EXPECTED[env]["origin"]],
                    "allowed_methods": ["GET", "PUT", "POST", "DELETE"],
                    "allowed_headers": ["*"], "max_age_seconds": 3000}


# --- CloudWatch -----------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_log_groups(env):
    scope, main = module(env, "cloudwatch")
    prefix = 'module.cloudwatch.aws_cloudwatch_log_group.this["'
    names = {address[len(prefix):-2]: values["name"] for address, values in planned(env).items()
             if address.startswith(prefix)}
    rds_group = resource(main, "aws_cloudwatch_log_group", "rds")
    rds_names = [scope.eval(rds_group["name"]).replace("<each.key>", t) for t in scope.var("rds_log_exports")]
    # The document's groups, each with its name; a group a team adds is not asked about here
    # (its retention and key are: every group is the same resource).
    assert names.items() >= {
        "frontend": f"/aws/ecs/codemate-frontend-{env}",
        "backend": f"/aws/ecs/codemate-backend-{env}",
        "elasticache": f"/aws/elasticache/codemate-redis-{env}",
        "frontend_build": f"/aws/codebuild/codemate-frontend-build-{env}",
        "backend_build": f"/aws/codebuild/codemate-backend-build-{env}",
        "release": f"/aws/codebuild/codemate-release-{env}",
        "database-setup": f"/aws/ecs/codemate-database-setup-{env}",
    }.items()
    # RDS names its export groups itself (the document's /aws/rds/codemate-db cannot be used).
    assert rds_names == [f"/aws/rds/instance/codemate-db-{env}/postgresql",
                         f"/aws/rds/instance/codemate-db-{env}/upgrade"]
    for group in ("this", "rds"):
        body = resource(main, "aws_cloudwatch_log_group", group)
        assert scope.eval(body["retention_in_days"]) == EXPECTED[env]["log_days"]
        assert body["kms_key_id"] == "${aws_kms_key.this.arn}"


def max_connections(memory_gib: int) -> int:
    """RDS's PostgreSQL formula LEAST(memory / 9531392, 5000) on the class's nominal memory."""
    return min(memory_gib * GIB // 9531392, 5000)


@pytest.mark.parametrize("env", ENVS)
def test_the_connection_limit_is_set_and_alarmed_at_80_percent(env):
    """The parameter group sets max_connections to a number (RDS's default formula uses
    DBInstanceClassMemory, below the nominal memory), so 80 % of it is exact."""
    plan = planned(env)
    limit = max_connections(EXPECTED[env]["rds_memory_gib"])
    parameters = {p["name"]: p for p in plan["module.rds.aws_db_parameter_group.this"]["parameter"]}
    assert (parameters["max_connections"]["value"], parameters["max_connections"]["apply_method"]) == (
        str(limit), "pending-reboot")
    alarm = plan["module.cloudwatch.aws_cloudwatch_metric_alarm.rds_connections"]
    assert alarm["threshold"] == math.floor(0.8 * limit)


@pytest.mark.parametrize("env", ENVS)
def test_alarms(env):
    scope, main = module(env, "cloudwatch")
    alarms = {name.strip('"'): body for name, body in _blocks(main, "resource")["aws_cloudwatch_metric_alarm"].items()}
    plan = planned(env)
    prefix = "module.cloudwatch.aws_cloudwatch_metric_alarm."
    # Read replicas are an option none of the real environments takes (tests/test_options.py).
    assert not [a for a in plan if a.startswith(prefix + "rds_replica")]
    alarms.pop("rds_replica")
    # The document's alarms, each with the document's metric, comparison, threshold and duration.
    # An alarm a team adds (a memory alarm, say) is not a departure and is not asked about here;
    # a document value changed is (README's departures list), and this test fails on it.
    document = {
        # "ECS CPU High": > 80 % for 5 minutes.
        "ecs_cpu_high": ("CPUUtilization", "GreaterThanThreshold", 80, 300, True),
        # "ALB Target Health": > 0 for 2 minutes.
        "unhealthy_hosts": ("UnHealthyHostCount", "GreaterThanThreshold", 0, 120, True),
        # "RDS Connections": > 80 % of max_connections for 5 minutes.
        "rds_connections": ("DatabaseConnections", "GreaterThanThreshold",
                            math.floor(0.8 * max_connections(EXPECTED[env]["rds_memory_gib"])), 300, True),
        # "5XX Errors": > 10 within a minute.
        "target_5xx": ("HTTPCode_Target_5XX_Count", "GreaterThanThreshold", 10, 60, True),
    }
    alarms = {name: alarms[name] for name in document if name in alarms}
    thresholds = {name: plan[next(a for a in plan if a.startswith(prefix + name))]["threshold"] for name in alarms}
    got = {name: (scope.eval(a["metric_name"]), scope.eval(a["comparison_operator"]), thresholds[name],
                  a["period"] * a["evaluation_periods"], a["datapoints_to_alarm"] == a["evaluation_periods"])
           for name, a in alarms.items()}
    assert got == document
    # Each of them notifies the alarm topic ("SNS 알림").
    assert {name: a["alarm_actions"] for name, a in alarms.items()} == {
        name: ["${aws_sns_topic.alarms.arn}"] for name in document}
    # One CPU alarm per service and one health alarm per target group.
    call = _blocks(parsed(f"infrastructure/environments/{env}/main.tf"), "module")["cloudwatch"]
    assert sorted(call["ecs_service_names"]) == ["backend", "frontend"]
    assert alarms["ecs_cpu_high"]["for_each"] == "${var.ecs_service_names}"
    assert alarms["unhealthy_hosts"]["for_each"] == "${var.target_group_arn_suffixes}"


@pytest.mark.parametrize("env", ENVS)
def test_notifications_and_dashboard(env):
    scope, main = module(env, "cloudwatch")
    subscription = resource(main, "aws_sns_topic_subscription", "email")
    assert (scope.eval(subscription["protocol"]), scope.eval(subscription["endpoint"])) == (
        "email", "ops@code1398.io")
    assert resource(main, "aws_sns_topic", "alarms")["kms_master_key_id"] == "${aws_kms_key.this.arn}"
    assert scope.eval(resource(main, "aws_cloudwatch_dashboard", "this")["dashboard_name"]) == f"codemate-{env}"
    body = files()["infrastructure/modules/monitoring/cloudwatch/main.tf"]
    # The document's dashboard items, each a metric on the dashboard.
    for metric in ("CPUUtilization", "MemoryUtilization", "DesiredTaskCount", "RequestCount",
                   "TargetResponseTime", "HTTPCode_Target_5XX_Count", "DatabaseConnections",
                   "FreeStorageSpace", "CacheHits", "CacheMisses", "EngineCPUUtilization"):
        assert f'"{metric}' in body or f'\\"{metric}\\"' in body, metric


@pytest.mark.parametrize("env", ENVS)
def test_root_outputs(env):
    outputs = _blocks(parsed(f"infrastructure/environments/{env}/outputs.tf"), "output")
    values = {name: outputs[name]["value"] for name in (
        "rds_endpoint", "redis_endpoint", "files_bucket_name", "logs_bucket_name",
        "alarm_topic_arn", "dashboard_name", "rds_security_group_id", "redis_security_group_id")}
    assert values == {
        "rds_endpoint": "${module.rds.endpoint}",
        "redis_endpoint": '"${module.elasticache.endpoint_address}:${module.elasticache.port}"',
        "files_bucket_name": "${module.s3.files_bucket_name}",
        "logs_bucket_name": "${module.s3.logs_bucket_name}",
        "alarm_topic_arn": "${module.cloudwatch.alarm_topic_arn}",
        "dashboard_name": "${module.cloudwatch.dashboard_name}",
        "rds_security_group_id": "${module.security_groups.rds_security_group_id}",
        "redis_security_group_id": "${module.security_groups.redis_security_group_id}",
    }


def _principals(scope: Scope, statement: dict) -> list[str]:
    return [p for block in statement.get("principals", []) for p in scope.eval(block["identifiers"])]


@pytest.mark.parametrize("env", ENVS)
def test_log_sources_may_write_to_the_logs_bucket(env):
    scope, main = module(env, "s3")
    policy = _blocks(main, "data")["aws_iam_policy_document"]['"logs"']
    writers = {scope.eval(s["sid"]): _principals(scope, s) for s in policy["statement"]
               if "s3:PutObject" in scope.eval(s["actions"])}
    # The region's ELB account (ap-northeast-2 predates the service principal) is a dynamic block.
    elb = first(first(policy["dynamic"])['"statement"']["content"])
    assert scope.eval(first(policy["dynamic"])['"statement"']["for_each"]) == ["600734575887"]
    assert scope.eval(elb["actions"]) == ["s3:PutObject"]
    # The log sources the design has write here, each as its service principal (a source a team
    # adds is its own statement).
    assert writers.items() >= {
        "AllowElbServiceLogDelivery": ["logdelivery.elasticloadbalancing.amazonaws.com"],
        "AllowLogDeliveryWrite": ["delivery.logs.amazonaws.com"],  # VPC flow logs, CloudFront v2
        "AllowCloudTrailWrite": ["cloudtrail.amazonaws.com"],
        "AllowS3ServerAccessLogs": ["logging.s3.amazonaws.com"],
    }.items()
    # Log objects only under AWSLogs/<this account>/.
    assert scope.local("log_objects") == f"<aws_s3_bucket.logs.arn>/*AWSLogs/{ACCOUNT}/*"
    # CloudFront's legacy standard logs are written with ACLs, so this bucket keeps them enabled.
    ownership = first(resource(main, "aws_s3_bucket_ownership_controls", "logs")["rule"])
    assert scope.eval(ownership["object_ownership"]) == "BucketOwnerPreferred"
