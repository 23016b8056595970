"""What `terraform apply` creates must run CodeMate: the order AWS needs, what the deployed
system does with a request, and what the pipeline does to the running revision.

Each test guards a defect a review found in an earlier tree (the tree planned and validated,
yet its first apply would fail or the system would behave unlike the design). Ordering is read
from `terraform graph`, values from the plan, and the pipeline's effect on the services from a
simulated apply whose world then changes as a release changes it.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import threading
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import yaml
from conftest import GENERATED, planned

from codemate_tfgen import hcl
from terraform_harness import Account, World, depends_on, run_terraform, terraform_graph

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

ENVS = ["dev", "prod", "staging"]
ENV_DIR = GENERATED / "infrastructure" / "environments"
SERVICES = ("frontend", "backend")


@pytest.fixture(scope="module")
def graphs():
    return {env: terraform_graph(ENV_DIR / env) for env in ENVS}


# --- order ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_services_wait_for_the_listener_and_its_rules(graphs, env):
    """ECS refuses a service whose target group no listener forwards to yet ("does not have an
    associated load balancer"); the frontend's group is attached by the HTTPS listener, which
    waits for the certificate's validation."""
    for service in SERVICES:
        node = f"module.{service}_service.aws_ecs_service.this"
        assert depends_on(graphs[env], node, "module.alb.aws_lb_listener.https"), service
        assert depends_on(graphs[env], node, "module.alb.aws_lb_listener_rule.this"), service


@pytest.mark.parametrize("env", ENVS)
def test_log_sources_wait_for_the_logs_bucket(graphs, env):
    """The ALB, the flow log and the trail check that they may write when they are created;
    CloudFront's standard logging needs the bucket's ACLs (BucketOwnerPreferred) first."""
    graph = graphs[env]
    policy, acls = "module.s3.aws_s3_bucket_policy.logs", "module.s3.aws_s3_bucket_ownership_controls.logs"
    for node in ("module.alb.aws_lb.this", "module.vpc.aws_flow_log.this"):
        assert depends_on(graph, node, policy), node
    if env == "prod":
        assert depends_on(graph, "module.account_baseline.aws_cloudtrail.this", policy)
        assert depends_on(graph, "module.cloudfront.aws_cloudfront_distribution.this", acls)


# --- what a request meets --------------------------------------------------------------------


@pytest.fixture(scope="module")
def routes():
    """Listener rules and the default action from the plan, with the target group each forwards
    to resolved from the configuration (ARNs are unknown until apply)."""
    found = {}
    for env in ENVS:
        plan = planned(env)
        rules = []
        for address, values in plan.items():
            if ".aws_lb_listener_rule.this[" in address:
                paths = [v for c in values["condition"] for p in c.get("path_pattern", []) for v in p["values"]]
                rules.append((values["priority"], paths, address.split('"')[1]))
        found[env] = sorted(rules)
    return found


def destination(rules: list, path: str, keys_to_services: dict, default: str) -> str:
    for _priority, patterns, key in rules:
        if any(fnmatchcase(path, pattern) for pattern in patterns):
            return keys_to_services[key]
    return default


@pytest.mark.parametrize("env", ENVS)
def test_nextauth_reaches_the_frontend(routes, env):
    """The frontend holds the NextAuth and GitHub OAuth secrets: /api/auth/* is its, ahead of the
    backend's /api/*; everything else keeps the document's routes."""
    main = (ENV_DIR / env / "main.tf").read_text()
    assert 'default_target_group = "frontend"' in main
    rules = routes[env]
    assert [(priority, key) for priority, _, key in rules] == [(90, "frontend"), (100, "backend")]
    owners = {"frontend": "frontend", "backend": "backend"}
    expected = {"/api/auth/callback/github": "frontend", "/api/auth/session": "frontend",
                "/api/projects/42": "backend", "/socket.io/?EIO=4&transport=websocket": "backend",
                "/": "frontend", "/projects/42/editor": "frontend", "/_next/static/chunks/app.js": "frontend"}
    assert {path: destination(rules, path, owners, "frontend") for path in expected} == expected


# --- who owns the running revision ---------------------------------------------------------


def _released(family: str, revision: int) -> str:
    return f"arn:aws:ecs:ap-northeast-2:123456789012:task-definition/{family}:{revision}"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_pipeline_release_leaves_terraform_nothing_to_change(env):
    """CodePipeline's ECS action registers a new task definition revision (the service's current
    one with the released image) and points the service at it; once the deployment succeeded, the
    release action writes it to the service's released parameter. The next plan must not put the
    service back on Terraform's revision."""
    world = World()
    for service in SERVICES:
        family = f"codemate-{env}-{service}"
        world.resource("aws_ecs_service", where={"name": f"codemate-{service}-service"},
                       report={"task_definition": f"{family}:2"})
        world.resource("aws_ssm_parameter", where={"name": f"/ecs/{family}/released-task-definition"},
                       report={"insecure_value": _released(family, 2)})
    result = run_terraform(ENV_DIR / env, apply=True, world=world)
    assert [str(d) for d in result.errors] == []
    assert result.resource("module.frontend_service.aws_ecs_task_definition.this")["revision"] == 1
    assert result.second_plan.empty, result.second_plan.actions


def test_a_deployment_that_rolled_back_is_not_deployed_again():
    """A deployment whose tasks never became healthy is rolled back by the circuit breaker to the
    revision before, but the revision the pipeline registered for it stays ACTIVE, the newest of
    the family, and the release action never ran. The next plan leaves every service where it runs."""
    account = Account()
    first = run_terraform(ENV_DIR / "dev", apply=True, account=account)
    assert [str(d) for d in first.errors] == []
    for service in SERVICES:
        assert account.register_task_definition(f"codemate-dev-{service}") == 2
    after = run_terraform(ENV_DIR / "dev", account=account)
    assert [str(d) for d in after.errors] == []
    moved = {a: act for a, act in after.planned_actions.items() if a.endswith(".aws_ecs_service.this")}
    assert moved and set(map(tuple, moved.values())) == {("no-op",)}, moved


def test_a_service_released_before_its_parameter_existed_stays_on_its_release():
    """A tree from before the released parameter, applied and released by the pipeline (each
    service on the revision the pipeline registered, the family's newest): the apply that adds
    the parameter starts it at that revision and deploys nothing."""
    account = Account()
    root = ENV_DIR / "dev"
    assert [str(d) for d in run_terraform(root, apply=True, account=account).errors] == []
    path = str(root.resolve())
    state = json.loads(account.states[path])
    for resource in list(state["resources"]):
        if (resource.get("module", "").endswith("_service") and resource["mode"] == "managed"
                and resource["type"] in ("aws_ssm_parameter", "aws_ecs_service")):
            attributes = resource["instances"][0]["attributes"]
            if resource["type"] == "aws_ssm_parameter":  # the tree before had none
                account.delete_ssm_parameter(attributes["name"])
                state["resources"].remove(resource)
            else:  # the pipeline's release moved the service to the family's newest revision
                family = attributes["task_definition"].rsplit(":", 1)[0]
                attributes["task_definition"] = f"{family}:{account.register_task_definition(family)}"
    state["serial"] += 1
    account.states[path] = json.dumps(state)
    after = run_terraform(root, account=account)
    assert [str(d) for d in after.errors] == []
    services = {a: act for a, act in after.planned_actions.items() if a.endswith(".aws_ecs_service.this")}
    assert services and set(map(tuple, services.values())) == {("no-op",)}, services


@pytest.mark.parametrize("env", ENVS)
def test_terraforms_revisions_start_from_the_released_image(env):
    """Terraform's task definitions name the image the pipeline tagged live after its deployment
    succeeded, so a change made in Terraform never deploys an image nobody released."""
    main = (ENV_DIR / env / "main.tf").read_text()
    for service in SERVICES:
        assert (f'image          = "${{module.ecr.repository_urls["{service}"]}}:${{module.codepipeline.live_tag}}"'
                in main), service
    release = planned(env)["module.codepipeline.aws_codebuild_project.release"]
    variables = {(v["name"], v["value"]) for v in release["environment"][0]["environment_variable"]}
    assert {("LIVE_TAG", "live"), ("RELEASE_TAG_PREFIX", "release-")} <= variables


# --- builds and releases, run for real with fake aws and docker -------------------------------

FAKE = r"""#!/usr/bin/env bash
# Records its name and arguments; answers as the test asked through FAKE_* variables.
printf '%s %s\n' "${0##*/}" "$*" >>"$FAKE_LOG"
case "${0##*/} $1 $2" in
  "aws ecr describe-images") exit "${FAKE_IMAGE_EXISTS_STATUS:-1}" ;;
  "aws ecs describe-services") echo "${FAKE_TASK_DEFINITION:-}" ;;
  "aws ecr get-login-password") echo token ;;
  "aws ecr batch-get-image") echo "${FAKE_BATCH:-manifest}" ;;
  "aws ecr put-image") [ -n "${FAKE_PUT_ERROR:-}" ] && { echo "$FAKE_PUT_ERROR" >&2; exit 254; } ;;
esac
exit 0
"""


def buildspec_commands(address: str) -> list[str]:
    spec = yaml.safe_load(planned("dev")[address]["source"][0]["buildspec"])
    return [command for phase in ("pre_build", "build", "post_build") if phase in spec["phases"]
            for command in spec["phases"][phase]["commands"]]


def run_phases(commands: list[str], tmp_path: Path, **fake: str) -> tuple[int, list[str]]:
    """The commands as CodeBuild's buildspec 0.2 runs them: one shell, in order, stopping at the
    first failure; aws and docker are fakes that record their calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("aws", "docker"):
        (bin_dir / tool).write_text(FAKE)
        (bin_dir / tool).chmod(0o755)
    source = tmp_path / "src"
    (source / "frontend").mkdir(parents=True, exist_ok=True)
    (source / "imagedefinitions.json").write_text(
        json.dumps([{"name": "codemate-frontend", "imageUri": "1234.dkr.ecr/codemate-frontend-dev:abc1234"}]))
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_LOG": str(log), "CODEBUILD_SRC_DIR": str(source),
           "CODEBUILD_RESOLVED_SOURCE_VERSION": "abc1234def", "AWS_REGION": "ap-northeast-2",
           "ECR_REPO": "1234.dkr.ecr/codemate-frontend-dev", "ECR_REGISTRY": "1234.dkr.ecr",
           "ECR_REPOSITORY_NAME": "codemate-frontend-dev", "CONTAINER_NAME": "codemate-frontend",
           "LIVE_TAG": "live", "RELEASE_TAG_PREFIX": "release-", "CLUSTER_NAME": "codemate-dev-cluster",
           "SERVICE_NAME": "codemate-frontend-service",
           "RELEASED_PARAMETER": "/ecs/codemate-dev-frontend/released-task-definition", **fake}
    script = "set -e\n" + "\n".join(commands) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=source, env=env, capture_output=True, text=True)
    return done.returncode, log.read_text().splitlines()


def test_a_retried_build_of_the_same_commit_succeeds(tmp_path):
    """Commit tags are immutable: the second build of a commit finds its image and pushes nothing."""
    commands = buildspec_commands('module.codepipeline.aws_codebuild_project.this["frontend"]')
    code, calls = run_phases(commands, tmp_path, FAKE_IMAGE_EXISTS_STATUS="1")
    assert code == 0
    assert [c for c in calls if c.startswith("docker")] == [
        "docker login --username AWS --password-stdin 1234.dkr.ecr",
        "docker build -t 1234.dkr.ecr/codemate-frontend-dev:abc1234 -f Dockerfile.prod .",
        "docker push 1234.dkr.ecr/codemate-frontend-dev:abc1234"]
    code, calls = run_phases(commands, tmp_path, FAKE_IMAGE_EXISTS_STATUS="0")
    assert code == 0
    assert [c for c in calls if c.startswith("docker") and "login" not in c] == []
    definitions = json.loads((tmp_path / "src" / "imagedefinitions.json").read_text())
    assert definitions == [{"name": "codemate-frontend", "imageUri": "1234.dkr.ecr/codemate-frontend-dev:abc1234"}]


@pytest.mark.parametrize(("error", "status"), [
    ("", 0),
    ("An error occurred (ImageAlreadyExistsException) when calling the PutImage operation", 0),
    ("An error occurred (AccessDeniedException) when calling the PutImage operation", 1),
])
def test_the_release_tags_the_image_as_a_release_then_moves_live_and_a_retry_is_done(tmp_path, error, status):
    # The release tag first: the image is kept among the last releases before live leaves the
    # one before it.
    commands = buildspec_commands("module.codepipeline.aws_codebuild_project.release")
    running = _released("codemate-dev-frontend", 7)
    code, calls = run_phases(commands, tmp_path, FAKE_PUT_ERROR=error, FAKE_TASK_DEFINITION=running)
    assert (code != 0) == bool(status)
    put = [c for c in calls if c.startswith("aws ecr put-image")]
    assert put == [f"aws ecr put-image --repository-name codemate-frontend-dev --image-tag {tag} --image-manifest "
                   "manifest --image-manifest-media-type manifest"
                   for tag in ("release-abc1234", "live")][:1 if status else 2]
    # Then, tagged, the revision the service runs becomes the one Terraform follows.
    written = [c for c in calls if c.startswith("aws ssm put-parameter")]
    assert written == ([] if status else [
        "aws ssm put-parameter --name /ecs/codemate-dev-frontend/released-task-definition --type String "
        f"--value {running} --overwrite"])
    if not status:
        assert calls.index(written[0]) > calls.index(put[-1])
        assert ("aws ecs describe-services --cluster codemate-dev-cluster --services codemate-frontend-service "
                "--query services[0].taskDefinition --output text") in calls


def test_the_release_writes_no_parameter_for_a_service_it_cannot_read(tmp_path):
    """describe-services answers `None` (exit 0) for a service it does not find: no value a plan
    could not read the revision from is written."""
    commands = buildspec_commands("module.codepipeline.aws_codebuild_project.release")
    code, calls = run_phases(commands, tmp_path, FAKE_TASK_DEFINITION="None")
    assert code != 0
    assert [c for c in calls if c.startswith("aws ssm")] == []


# --- least privilege --------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_only_the_backend_may_use_the_files_bucket(env):
    plan = planned(env)
    assert not [a for a in plan if a.startswith("module.frontend_service.aws_iam_role_policy.task")]
    assert "module.backend_service.aws_iam_role_policy.task[0]" in plan


@pytest.mark.parametrize("env", ENVS)
def test_the_alb_admits_the_internet_or_cloudfront_only(env):
    plan = planned(env)
    prefix = "module.security_groups.aws_vpc_security_group_ingress_rule.alb"
    rules = {a: v for a, v in plan.items() if a.startswith(prefix)}
    if env == "prod":
        assert list(rules) == ["module.security_groups.aws_vpc_security_group_ingress_rule.alb_from_cloudfront[0]"]
        assert rules[next(iter(rules))]["from_port"] == 443
        module = (GENERATED / "infrastructure" / "modules" / "networking" / "security-groups" / "main.tf").read_text()
        assert 'name = "com.amazonaws.global.cloudfront.origin-facing"' in module
        assert "prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront[0].id" in module
    else:
        assert sorted((v["from_port"], v["cidr_ipv4"]) for v in rules.values()) == [
            (80, "0.0.0.0/0"), (443, "0.0.0.0/0")]


# --- replacements, certificates --------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_resources_replaced_before_destroy_get_unique_names(env):
    plan = planned(env)
    for address, values in plan.items():
        kinds = (".aws_lb_target_group.", ".aws_security_group.", ".aws_db_parameter_group.")
        if any(kind in address for kind in kinds):
            assert values.get("name_prefix") and "name" not in values, address


@pytest.mark.parametrize("env", ENVS)
def test_each_environment_validates_its_own_host(env):
    """One record per domain per account: a per-host certificate gives every environment its
    own, and prod's CloudFront certificate (same host, us-east-1) uses the dns module's. The
    record is taken over where it exists (the second-region cut-over moves a host between
    environments; validation keeps two environments of an account off one host)."""
    plan = planned(env)
    host = {"dev": "codemate-dev", "staging": "codemate-staging", "prod": "codemate"}[env] + ".code1398.io"
    certificates = {a: v for a, v in plan.items() if a.endswith("aws_acm_certificate.this")}
    assert {v["domain_name"] for v in certificates.values()} == {host}
    assert all(v["subject_alternative_names"] == [] for v in certificates.values())
    validations = [a for a in plan if ".aws_route53_record.validation[" in a]
    assert validations == [f'module.dns.aws_route53_record.validation["{host}"]']
    assert plan[validations[0]]["allow_overwrite"] is True


# --- the container health check --------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.send_response(self.status if self.path == "/api/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1), (None, 1)])
def test_the_container_health_check_needs_only_node(status, exit_code):
    """curl is not in the slim Node.js images; the check is a node one-liner, run here with the
    machine's node against a server that answers as the app would."""
    node = shutil.which("node")
    assert node, "node is needed to run the health check command"
    main = (GENERATED / "infrastructure" / "modules" / "compute" / "ecs-service" / "main.tf").read_text()
    assert ': ["CMD", "node", "-e", local.health_check_script]' in main  # the default command
    script = hcl.parse_text(main)["locals"][0]["health_check_script"][1:-1]
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens: the check must fail, not hang
    else:
        _Health.status = status
        threading.Thread(target=server.serve_forever, daemon=True).start()
    rendered = script.replace("${coalesce(var.port, 0)}", str(port)).replace(
        '${coalesce(var.health_check_path, "/")}', "/api/health")
    try:
        done = subprocess.run([node, "-e", rendered], capture_output=True, text=True, timeout=20)
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()
    assert done.returncode == exit_code, done.stderr


def test_the_release_role_may_run_every_aws_call_of_its_buildspec():
    """Each `aws SERVICE OPERATION` of the release buildspec is an IAM action its role allows
    (describe-services is ecs:DescribeServices); ecr get-login-password is ecr:GetAuthorizationToken
    and the release logs in nowhere."""
    commands = buildspec_commands("module.codepipeline.aws_codebuild_project.release")
    calls = {(service, operation) for command in commands
             for service, operation in re.findall(r"\baws ([a-z0-9]+) ([a-z-]+)", command)}
    wanted = {f"{service}:{''.join(part.title() for part in operation.split('-'))}" for service, operation in calls}
    pipeline = GENERATED / "infrastructure" / "modules" / "cicd" / "codepipeline"
    module = hcl.parse_text((pipeline / "main.tf").read_text())
    [document] = [body for block in module["data"] for name, body in block.get('"aws_iam_policy_document"', {}).items()
                  if name == '"release"']
    allowed = {action.strip('"') for statement in document["statement"] if statement.get("effect", "Allow") == "Allow"
               for action in statement["actions"]}
    assert {"ecs:DescribeServices", "ssm:PutParameter"} <= wanted
    assert wanted - allowed == set()
