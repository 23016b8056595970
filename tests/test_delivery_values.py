"""Delivery and security settings carry the design document's values into every environment.

The expected values are the document's ("CI/CD 파이프라인", "CloudFront (선택사항)", "비용 최적화
전략 > NAT Gateway 최적화", "보안 체크리스트", "비용 알람 설정") and the specs' per-environment
choices. Every environment is rendered in memory and the values are read back from the HCL: a
root module's arguments are resolved through terraform.tfvars, a child module's through the
call's arguments or the module's variable defaults.
"""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path

import hcl2
import pytest
import yaml
from conftest import SPECS, planned, project_of

from codemate_tfgen import hcl, pipeline

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

EXPECTED = {
    "dev": {"branch": "develop", "approval": False, "cdn": None, "endpoints": False, "budget": 300},
    "staging": {"branch": "staging", "approval": True, "cdn": None, "endpoints": False, "budget": 450},
    "prod": {"branch": "main", "approval": True, "cdn": "PriceClass_200", "endpoints": True, "budget": 900},
}
ENVS = sorted(EXPECTED)
HOSTS = {"prod": "codemate.code1398.io"}

# The document's buildspec.yml (Frontend 예시) with its two fixes: docker logs in to the registry
# host, and imagedefinitions.json (at the source root, where CodeBuild collects artifacts) names
# the commit tag so a deployment pins the image it built.
BUILDSPEC_COMMANDS = {
    "pre_build": [
        "echo Logging in to Amazon ECR...",
        "aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin "
        "$ECR_REGISTRY",
        "COMMIT_HASH=$(echo $CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c 1-7)",
        "IMAGE_TAG=${COMMIT_HASH:=latest}",
        # A retried commit: its image is in ECR already and its tag cannot be pushed again.
        "if aws ecr describe-images --repository-name $ECR_REPOSITORY_NAME --image-ids imageTag=$IMAGE_TAG "
        ">/dev/null 2>&1; then BUILT=yes; else BUILT=no; fi",
    ],
    "build": [
        "echo Build started on `date`",
        "if [ $BUILT = yes ]; then echo $ECR_REPO:$IMAGE_TAG exists already, not rebuilt; else cd {service} && "
        "docker build -t $ECR_REPO:$IMAGE_TAG -f Dockerfile.prod . && docker push $ECR_REPO:$IMAGE_TAG; fi",
    ],
    "post_build": [
        "echo Build completed on `date`",
        "echo Writing image definitions file...",
        "printf '[{\"name\":\"%s\",\"imageUri\":\"%s\"}]' $CONTAINER_NAME $ECR_REPO:$IMAGE_TAG "
        "> $CODEBUILD_SRC_DIR/imagedefinitions.json",
    ],
}


# --- reading the rendered tree ------------------------------------------------------------------


@cache
def rendered() -> dict[str, str]:
    return pipeline.build(project_of(SPECS), ())[0]


def parse(files: dict[str, str], path: str) -> dict:
    return hcl2.loads(files[f"infrastructure/{path}"])


def blocks(parsed: dict, kind: str) -> dict[str, dict]:
    """Labelled blocks of one kind (module, variable), keyed by their unquoted label."""
    return {label.strip('"'): body for entry in parsed.get(kind, []) for label, body in entry.items()}


def resources(parsed: dict, rtype: str) -> dict[str, dict]:
    found = {}
    for entry in parsed.get("resource", []):
        for label, named in entry.items():
            if label.strip('"') == rtype:
                found.update({name.strip('"'): body for name, body in named.items()})
    return found


def dynamic(body: dict, name: str) -> dict:
    """The content of a block's `dynamic "<name>"` block."""
    for entry in body.get("dynamic", []):
        for label, block in entry.items():
            if label.strip('"') == name:
                return block["content"][0]
    raise AssertionError(f"no dynamic {name} block")


def template(expr: str, **values: str) -> str:
    """A quoted HCL template with the given references (dots as __) filled in."""
    for ref, value in values.items():
        expr = expr.replace("${" + ref.replace("__", ".") + "}", value)
    return hcl.unquote(expr)


class Module:
    """A child module: its main.tf and its variable defaults."""

    def __init__(self, files: dict[str, str], path: str):
        self.text = files[f"infrastructure/modules/{path}/main.tf"]
        self.main = hcl2.loads(self.text)
        self.defaults = {name: body.get("default") for name, body in
                         blocks(parse(files, f"modules/{path}/variables.tf"), "variable").items()}

    def resource(self, rtype: str, name: str = "this") -> dict:
        return resources(self.main, rtype)[name]


REFERENCE = r"\$\{((?:var|local)\.[\w.]+)\}"


class Environment:
    """A rendered environment: tfvars values and module calls, with simple expressions resolved."""

    def __init__(self, files: dict[str, str], env: str):
        self.files = files
        self.name = env
        self.tfvars = parse(files, f"environments/{env}/terraform.tfvars")
        self.main = parse(files, f"environments/{env}/main.tf")
        self.locals = {k: v for entry in self.main.get("locals", []) for k, v in entry.items()}
        self.modules = blocks(self.main, "module")

    def resolve(self, expr):
        """Literals, var.x.y, local.x and quoted templates of those, inside lists and maps too."""
        if isinstance(expr, list):
            return [self.resolve(item) for item in expr]
        if isinstance(expr, dict):
            return {key: self.resolve(value) for key, value in expr.items()}
        if not isinstance(expr, str):
            return expr
        whole = re.fullmatch(REFERENCE, expr)
        if whole:
            return self._reference(whole.group(1))
        if expr.startswith('"'):
            return hcl.unquote(re.sub(REFERENCE, lambda m: hcl.quote(str(self._reference(m.group(1))))[1:-1],
                                      expr))
        return expr

    def _reference(self, ref: str):
        kind, name, *path = ref.split(".")
        value = self.resolve(self.tfvars[name] if kind == "var" else self.locals[name])
        for key in path:
            value = value[key]
        return self.resolve(value)

    def call(self, name: str) -> dict:
        return self.modules[name]

    def argument(self, module: str, name: str):
        """What a module sees for one of its variables: the call's argument or the default."""
        call = self.call(module)
        if name in call:
            return self.resolve(call[name])
        path = hcl.unquote(call["source"]).removeprefix("../../modules/")
        return self.resolve(Module(self.files, path).defaults[name])


@cache
def environment(env: str) -> Environment:
    return Environment(rendered(), env)


def module(path: str) -> Module:
    return Module(rendered(), path)


def hcl_literal(text: str, substitutions: dict[str, str]):
    """An HCL object/list literal of strings (the buildspec's yamlencode argument) as Python.

    Outside strings `key = ` becomes `"key": `; inside them `$${` is a literal `${` and the
    given ${...} references are substituted, so the result is what Terraform encodes.
    """
    out = []
    for string, code in re.findall(r'("(?:[^"\\]|\\.)*")|([^"]+)', text):
        if code:
            out.append(re.sub(r"([A-Za-z_]\w*)\s*=(?!=)", r'"\1":', code))
            continue
        for ref, value in substitutions.items():
            string = string.replace("${" + ref + "}", value)
        assert "${" not in string.replace("$${", ""), f"unresolved reference in {string}"
        out.append(string.replace("$${", "${"))
    return json.loads("".join(out))


# --- CodePipeline -------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_pipeline_source_branch_and_approval(env):
    e = environment(env)
    assert e.argument("codepipeline", "repository") == "Nharu/codemate"
    assert e.argument("codepipeline", "branch") == EXPECTED[env]["branch"]
    assert e.argument("codepipeline", "manual_approval") is EXPECTED[env]["approval"]

    m = module("cicd/codepipeline")
    assert hcl.unquote(m.resource("aws_codestarconnections_connection")["provider_type"]) == "GitHub"
    source = m.resource("aws_codepipeline")["stage"][0]
    action = source["action"][0]
    assert hcl.unquote(action["provider"]) == "CodeStarSourceConnection"
    config = action["configuration"]
    assert (config["FullRepositoryId"], config["BranchName"]) == ("${var.repository}", "${var.branch}")


def stage_names(text: str, approval: bool) -> list[str]:
    """The pipeline's stages in order: static `stage` blocks and the approval `dynamic "stage"`."""
    body = text[text.index('resource "aws_codepipeline" "this"'):]
    names = []
    for match in re.finditer(r'^  (stage|dynamic "stage") \{\n(.*?)^  \}', body, flags=re.M | re.S):
        kind, inner = match.groups()
        if kind == "stage":
            names.append(re.search(r'^    name = "(\w+)"', inner, flags=re.M).group(1))
            continue
        for_each = re.search(r"for_each = (.*)", inner).group(1)
        assert for_each == 'var.manual_approval ? ["Approval"] : []', for_each
        names += ["Approval"] if approval else []
        assert 'provider = "Manual"' in " ".join(inner.split())
    return names


@pytest.mark.parametrize("env", ENVS)
def test_approval_stage_only_where_the_spec_asks(env):
    approval = environment(env).argument("codepipeline", "manual_approval")
    expected = ["Source", "Build"] + (["Approval"] if EXPECTED[env]["approval"] else []) + ["Deploy"]
    assert stage_names(module("cicd/codepipeline").text, approval) == expected
    # Approvers are told through the alarm topic, only where there is something to approve.
    notification = environment(env).call("codepipeline").get("approval_notification")
    if EXPECTED[env]["approval"]:
        assert notification == {"topic_arn": "${module.cloudwatch.alarm_topic_arn}",
                                "kms_key_arn": "${module.cloudwatch.kms_key_arn}"}
    else:
        assert notification is None


@pytest.mark.parametrize("env", ENVS)
def test_build_projects_and_ecs_deploy(env):
    e = environment(env)
    services = e.call("codepipeline")["services"]
    assert sorted(services) == ["backend", "frontend"]
    m = module("cicd/codepipeline")
    project = m.resource("aws_codebuild_project")
    name = e.resolve(e.call("codepipeline")["name"])
    names = {template(project["name"], var__name=name, each__key=key) for key in services}
    assert names == {f"codemate-{env}-frontend-build", f"codemate-{env}-backend-build"}
    assert project["environment"][0]["privileged_mode"] is True
    assert project["logs_config"][0]["cloudwatch_logs"][0]["group_name"] == "${each.value.build_log_group}"
    for key, service in services.items():
        # The spec's build context, else the service's name (the buildspec test reads the value).
        assert service["source_dir"] == f'${{coalesce(var.services.{key}.build.context, "{key}")}}'
        assert service["build_log_group"] == f'${{module.cloudwatch.log_group_names["{key}_build"]}}'
        assert service["service_name"] == f"${{module.{key}_service.service_name}}"
        assert service["task_role_arns"] == [f"${{module.{key}_service.task_role_arn}}",
                                             f"${{module.{key}_service.task_execution_role_arn}}"]

    deploy = m.resource("aws_codepipeline")["stage"][-1]
    assert hcl.unquote(deploy["name"]) == "Deploy"
    action = dynamic(deploy, "action")
    assert hcl.unquote(action["provider"]) == "ECS"
    assert action["configuration"]["FileName"] == '"imagedefinitions.json"'


@pytest.mark.parametrize("service", ["frontend", "backend"])
def test_buildspec_is_the_documents(service):
    """What CodeBuild receives (Terraform's own yamlencode, read from the plan), read as YAML."""
    project = planned("dev")[f'module.codepipeline.aws_codebuild_project.this["{service}"]']
    spec = yaml.safe_load(project["source"][0]["buildspec"])
    assert spec["version"] == "0.2"
    assert {phase: body["commands"] for phase, body in spec["phases"].items()} == {
        phase: [command.replace("{service}", service) for command in commands]
        for phase, commands in BUILDSPEC_COMMANDS.items()}
    assert spec["artifacts"] == {"files": ["imagedefinitions.json"]}
    variables = {v["name"]: v.get("value") for v in project["environment"][0]["environment_variable"]}
    assert variables["ECR_REPOSITORY_NAME"] == f"codemate-{service}-dev"


def test_release_tags_the_deployed_image_live():
    """Each service's ECS deployment is followed by the release project, which gives the image it
    deployed the live tag (what Terraform's task definitions start from), before the next service
    deploys: a failed deployment leaves no service on an unreleased image."""
    plan = planned("dev")
    deploy = next(s for s in plan["module.codepipeline.aws_codepipeline.this"]["stage"] if s["name"] == "Deploy")
    actions = {a["name"]: (a["provider"], a["run_order"], a["input_artifacts"]) for a in deploy["action"]}
    # Each service's deployment and its release (an action a team adds to the stage is its own).
    orders = []
    for service in ("frontend", "backend"):
        provider, order, artifacts = actions[service]
        assert (provider, artifacts) == ("ECS", [f"{service}_image"])
        assert actions[f"{service}-release"] == ("CodeBuild", order + 1, [f"{service}_image"])
        orders.append(order)
    assert abs(orders[0] - orders[1]) >= 2  # one service, then the other
    commands = yaml.safe_load(plan["module.codepipeline.aws_codebuild_project.release"]["source"][0]["buildspec"])[
        "phases"]["build"]["commands"]
    [tagging] = [c for c in commands if c.startswith("for TAG in $RELEASE_TAG_PREFIX$IMAGE_TAG $LIVE_TAG; do")]
    assert "aws ecr put-image --repository-name $ECR_REPOSITORY_NAME --image-tag $TAG" in tagging
    assert "ImageAlreadyExistsException" in tagging, "a retry finds the tag in place"
    repository = plan['module.ecr.aws_ecr_repository.this["frontend"]']
    assert repository["image_tag_mutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert [f["filter"] for f in repository["image_tag_mutability_exclusion_filter"]] == ["live"]


def test_build_role_is_scoped_to_its_repository_and_log_group():
    text = module("cicd/codepipeline").text
    build = text[text.index('data "aws_iam_policy_document" "build"'):]
    build = build[: build.index("\n}\n")]
    assert "resources = [each.value.ecr_repository_arn]" in build
    assert ":log-group:${each.value.build_log_group}:log-stream:*" in build
    pipeline_policy = text[text.index('data "aws_iam_policy_document" "pipeline"'):]
    passrole = pipeline_policy[pipeline_policy.index('sid       = "PassTaskRoles"'):][:600]
    assert "service.task_role_arns" in passrole and "ecs-tasks.amazonaws.com" in passrole


# --- CloudFront ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_cloudfront_only_where_enabled(env):
    e = environment(env)
    files = rendered()
    providers = files[f"infrastructure/environments/{env}/providers.tf"]
    if EXPECTED[env]["cdn"] is None:
        assert "cloudfront" not in e.modules
        assert "us_east_1" not in providers
        assert "cdn" not in e.tfvars
        return
    assert e.argument("cloudfront", "price_class") == EXPECTED[env]["cdn"]
    assert e.argument("cloudfront", "domain_name") == HOSTS[env]
    assert "aws.us_east_1" in str(e.call("cloudfront")["providers"])
    assert 'alias  = "us_east_1"' in providers and 'region = "us-east-1"' in providers
    # /api/auth/* (the frontend's rule) needs no behaviour of its own under /api/*.
    assert e.argument("cloudfront", "uncached_path_patterns") == ["/api/*", "/socket.io/*"]


def test_cloudfront_behaviors_and_ttls():
    e = environment("prod")
    m = module("networking/cloudfront")

    def ttl(expr: str) -> int:
        return e.argument("cloudfront", re.fullmatch(r"\$\{var\.(\w+)\}", expr).group(1))

    static = m.resource("aws_cloudfront_cache_policy", "static")
    default = m.resource("aws_cloudfront_cache_policy", "default")
    assert ttl(static["default_ttl"]) == ttl(static["max_ttl"]) == 365 * 24 * 3600
    assert ttl(default["default_ttl"]) == 24 * 3600

    distribution = m.resource("aws_cloudfront_distribution")
    static_behavior = distribution["ordered_cache_behavior"][0]
    assert e.argument("cloudfront", "static_path_pattern") == "_next/static/*"
    # The Next.js server behind the ALB serves its build assets; CloudFront keeps them a year.
    assert static_behavior["target_origin_id"] == "${local.alb_origin_id}"
    assert static_behavior["cache_policy_id"] == "${aws_cloudfront_cache_policy.static.id}"
    uncached = dynamic(distribution, "ordered_cache_behavior")
    assert uncached["cache_policy_id"] == "${data.aws_cloudfront_cache_policy.caching_disabled.id}"
    assert '"Managed-CachingDisabled"' in m.text
    assert distribution["default_cache_behavior"][0]["cache_policy_id"] == "${aws_cloudfront_cache_policy.default.id}"
    for behavior in (static_behavior, uncached, distribution["default_cache_behavior"][0]):
        assert behavior["viewer_protocol_policy"] == '"redirect-to-https"'
    certificate = distribution["viewer_certificate"][0]
    assert certificate["minimum_protocol_version"] == '"TLSv1.2_2021"'
    assert m.resource("aws_acm_certificate")["provider"] == "${aws.us_east_1}"
    [alb] = distribution["origin"]
    assert alb["custom_origin_config"][0]["origin_protocol_policy"] == '"https-only"'


# --- Security baseline, endpoints, NAT ----------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_budget_counts_its_own_environment(env):
    """The environments share an account: each budget filters by its Environment tag."""
    budget = planned(env)["module.budget.aws_budgets_budget.monthly"]
    assert (budget["time_unit"], budget["limit_unit"], float(budget["limit_amount"])) == (
        "MONTHLY", "USD", EXPECTED[env]["budget"])
    assert budget["cost_filter"] == [{"name": "TagKeyValue", "values": [f"user:Environment${env}"]}]
    notifications = {(n["notification_type"], n["threshold"], n["threshold_type"]): n["subscriber_email_addresses"]
                     for n in budget["notification"]}
    assert notifications == {("FORECASTED", 80, "PERCENTAGE"): ["ops@code1398.io"],
                             ("ACTUAL", 100, "PERCENTAGE"): ["ops@code1398.io"]}


@pytest.mark.parametrize("env", ENVS)
def test_the_account_baseline_lives_in_prod_only(env):
    """One GuardDuty detector per account and region, one multi-region trail: prod owns them."""
    plan = planned(env)
    owned = sorted(a for a in plan if a.startswith("module.account_baseline."))
    if env != "prod":
        assert owned == [] and not [a for a in plan if "guardduty" in a or "aws_cloudtrail" in a]
        return
    trail = plan["module.account_baseline.aws_cloudtrail.this[0]"]
    assert (trail["is_multi_region_trail"], trail["enable_log_file_validation"]) == (True, True)
    assert plan["module.account_baseline.aws_guardduty_detector.this[0]"]["enable"] is True
    assert environment(env).call("account_baseline")["logs_bucket_name"] == "${module.s3.logs_bucket_name}"


@pytest.mark.parametrize("env", ENVS)
def test_flow_logs_to_the_logs_bucket(env):
    e = environment(env)
    vpc = e.call("vpc")
    assert e.resolve(vpc["enable_flow_logs"]) is True
    assert vpc["flow_logs_destination_arn"] == '"${module.s3.logs_bucket_arn}/vpc-flow-logs/"'
    flow = module("networking/vpc").resource("aws_flow_log")
    assert (hcl.unquote(flow["traffic_type"]), hcl.unquote(flow["log_destination_type"])) == ("ALL", "s3")


@pytest.mark.parametrize("env", ENVS)
def test_vpc_endpoints_only_in_prod(env):
    e = environment(env)
    if not EXPECTED[env]["endpoints"]:
        assert "vpc_endpoints" not in e.modules
        return
    services = e.argument("vpc_endpoints", "interface_services")
    assert services == ["ecr.api", "ecr.dkr", "logs", "secretsmanager"]
    assert e.call("vpc_endpoints")["route_table_ids"] == "${module.vpc.private_app_route_table_ids}"
    assert e.call("vpc_endpoints")["subnet_ids"] == "${module.vpc.private_app_subnet_ids}"
    m = module("networking/vpc-endpoints")
    assert m.resource("aws_vpc_endpoint", "s3")["vpc_endpoint_type"] == '"Gateway"'
    rule = m.resource("aws_vpc_security_group_ingress_rule", "https")
    assert (rule["from_port"], rule["to_port"], rule["cidr_ipv4"]) == (443, 443, "${var.vpc_cidr_block}")


@pytest.mark.parametrize("env", ENVS)
def test_nat_gateway_is_the_default(env):
    e = environment(env)
    assert e.argument("vpc", "nat")["mode"] == "gateway"
    assert "instance_type" not in e.tfvars["network"]["nat"]


def test_nat_instance_when_the_spec_switches_mode(tmp_path: Path):
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    dev = specs / "dev.yaml"
    data = yaml.safe_load(dev.read_text())
    data["network"]["nat"].update(mode="instance", instance_type="t4g.nano")
    dev.write_text(yaml.safe_dump(data, allow_unicode=True))

    files = pipeline.build(project_of(specs), ("dev",))[0]
    e = Environment(files, "dev")
    assert e.argument("vpc", "nat") == {"mode": "instance", "per_az": False, "instance_type": "t4g.nano"}

    m = Module(files, "networking/vpc")
    nat = m.resource("aws_instance", "nat")
    assert nat["source_dest_check"] is False
    assert nat["metadata_options"][0]["http_tokens"] == '"required"'
    assert nat["root_block_device"][0]["encrypted"] is True
    assert "MASQUERADE" in nat["user_data"] and "net.ipv4.ip_forward = 1" in nat["user_data"]
    assert "al2023-ami-kernel-default-${local.nat_instance_arch}" in m.text
    route = m.resource("aws_route", "private_app_nat")
    assert "aws_instance.nat[" in route["network_interface_id"]
    assert 'var.nat.mode == "instance"' in route["network_interface_id"]
