"""The design document's optional parts, as spec options: what each one makes Terraform create.

tests/golden/all-options turns every option on over prod; the fixture project (the document's
specs) turns none on. Values
come from the plan, and from a simulated apply where they are known only then (ARNs, the
addresses the backend is given). Prices are computed from the price book, as in test_cost.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import REPO, SPECS, edit, plan_values, planned, project_of, write_tree
from support import BOOK, HOURS, D, cents, estimate, lines, shellcheck_readme

from codemate_tfgen import pipeline
from codemate_tfgen.cost import model as cost
from terraform_harness import depends_on, run_terraform, terraform_graph
from terraform_harness.runner import state_resources

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

VARIANT = REPO / "tests" / "golden" / "all-options" / "specs"
ENVS = ["dev", "prod", "staging"]


@pytest.fixture(scope="module")
def variant(variant_dirs) -> Path:
    """The all-options variant written out whole (test_golden plans the same one): its prod directory."""
    return variant_dirs["all-options"]


@pytest.fixture(scope="module")
def graph(variant):
    return terraform_graph(variant)


@pytest.fixture(scope="module")
def plan(variant):
    return plan_values(variant)


@pytest.fixture(scope="module")
def applied(variant):
    """The stand-in refuses, as AWS does, a service whose target groups no listener forwards to,
    so this apply also checks the blue/green order."""
    result = run_terraform(variant, apply=True)
    assert [str(d) for d in result.errors] == []
    return result


def variant_of(tmp_path: Path, change) -> Path:
    """A copy of the all-options specs changed by `change(prod spec data)`, rendered: its prod dir."""
    specs = tmp_path / "specs"
    shutil.copytree(VARIANT, specs)  # the symlinked bases are copied as files
    data = yaml.safe_load((specs / "prod.yaml").read_text())
    change(data)
    (specs / "prod.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return write_tree(pipeline.build(project_of(specs), ())[0], tmp_path / "out") / "environments" / "prod"


def test_the_documents_specs_take_no_option():
    options = ("bastion", "aws_db_instance.replica", "automated_backups_replication", "intelligent_tiering",
               "scheduled_action", "aws_lb_listener.test", "listener_rule.blue_green", "load_balancers")
    for env in ENVS:
        found = [address for address in planned(env) if any(option in address for option in options)]
        assert found == [], env
        for service in ("frontend", "backend"):
            ecs = planned(env)[f"module.{service}_service.aws_ecs_service.this"]
            assert (ecs["launch_type"], ecs["capacity_provider_strategy"]) == ("FARGATE", [])
            assert [c["strategy"] for c in ecs["deployment_configuration"]] == ["ROLLING"]


def test_the_variant_applies_and_plans_nothing_after(applied):
    assert applied.applied == applied.planned_add > 200
    assert applied.second_plan.empty, applied.second_plan.actions


# --- bastion ---------------------------------------------------------------------------------


def test_bastion_is_a_session_manager_host_without_an_inbound_port(plan, applied):
    instance = plan["module.bastion.aws_instance.this"]
    assert (instance["instance_type"], instance["associate_public_ip_address"], instance.get("key_name")) == (
        "t4g.nano", False, None)
    assert instance["metadata_options"][0]["http_tokens"] == "required"
    assert instance["root_block_device"][0]["encrypted"] is True
    # Graviton: the arm64 image of Amazon Linux 2023, which ships the Systems Manager agent.
    image = applied.resource("module.bastion.data.aws_ssm_parameter.ami")["name"]
    assert image == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    role = plan["module.bastion.aws_iam_role_policy_attachment.ssm"]
    assert role["policy_arn"].endswith(":policy/AmazonSSMManagedInstanceCore")
    assert not [a for a in plan if "bastion_ssh" in a]
    egress = {key: plan[f'module.security_groups.aws_vpc_security_group_egress_rule.bastion["{key}"]']["from_port"]
              for key in ("https", "postgres", "redis")}
    assert egress == {"https": 443, "postgres": 5432, "redis": 6379}
    # The data stores admit the bastion's group, and nothing else new.
    groups = {name: applied.resource(f"module.security_groups.aws_security_group.{name}[0]" if name == "bastion"
                                     else f"module.security_groups.aws_security_group.{name}")["id"]
              for name in ("bastion", "rds", "redis")}
    for store in ("rds", "redis"):
        rule = applied.resource(f"module.security_groups.aws_vpc_security_group_ingress_rule.{store}_from_bastion[0]")
        assert (rule["security_group_id"], rule["referenced_security_group_id"]) == (groups[store], groups["bastion"])
    # In a private subnet: no inbound path from the internet at all.
    subnet = applied.resource("module.bastion.aws_instance.this")["subnet_id"]
    private = [applied.resource(f'module.vpc.aws_subnet.private_app["{zone}"]')["id"]
               for zone in ("ap-northeast-2a", "ap-northeast-2c")]
    assert subnet in private


def test_bastion_with_ssh_takes_a_public_address_and_the_named_addresses_only(tmp_path):
    prod = variant_of(tmp_path, lambda d: d.update(bastion={"ssh_cidrs": ["203.0.113.7/32"], "key_name": "ops"}))
    plan = plan_values(prod)
    instance = plan["module.bastion.aws_instance.this"]
    assert (instance["associate_public_ip_address"], instance["key_name"]) == (True, "ops")
    ssh = plan['module.security_groups.aws_vpc_security_group_ingress_rule.bastion_ssh["203.0.113.7/32"]']
    assert (ssh["from_port"], ssh["to_port"], ssh["cidr_ipv4"]) == (22, 22, "203.0.113.7/32")


# --- read replicas and cross-region backup ---------------------------------------------------


def test_read_replica_shares_the_key_and_has_its_own_parameter_group(plan, applied):
    replica, primary = (applied.resource(f"module.rds.aws_db_instance.{name}") for name in ("replica[0]", "this"))
    assert replica["replicate_source_db"] == primary["identifier"]
    assert replica["instance_class"] == "db.t4g.small"
    # Encrypted by the source's key: RDS refuses a key for a replica in its source's region (the
    # verifier refuses it too, tests/test_tfschema.py), and the source's is the module's.
    assert primary["kms_key_id"] == applied.resource("module.rds.aws_kms_key.this")["arn"]
    assert replica["performance_insights_kms_key_id"] == primary["kms_key_id"]
    # It grows with the primary, and takes the same IAM logins.
    assert (replica["max_allocated_storage"], replica["iam_database_authentication_enabled"]) == (
        primary["max_allocated_storage"], True)
    groups = {name: applied.resource(f"module.rds.aws_db_parameter_group.{name}") for name in ("this", "replica[0]")}
    assert replica["parameter_group_name"] == groups["replica[0]"]["name"] != groups["this"]["name"]
    parameters = {name: {p["name"]: p["value"] for p in group["parameter"]} for name, group in groups.items()}
    # A standby must allow the primary's connections; SSL is forced on both.
    assert parameters["replica[0]"] == parameters["this"]
    assert parameters["this"]["rds.force_ssl"] == "1"


def test_read_replica_has_alarms_and_the_backend_its_address(plan, applied):
    alarms = {address.split('"')[1]: values for address, values in plan.items()
              if address.startswith("module.cloudwatch.aws_cloudwatch_metric_alarm.rds_replica[")}
    assert {key: (a["metric_name"], a["threshold"]) for key, a in alarms.items()} == {
        "rds-replica-1-connections-high": ("DatabaseConnections", plan[
            "module.cloudwatch.aws_cloudwatch_metric_alarm.rds_connections"]["threshold"]),
        "rds-replica-1-lag-high": ("ReplicaLag", 60),
    }
    assert {a["dimensions"]["DBInstanceIdentifier"] for a in alarms.values()} == {"codemate-db-prod-replica-1"}
    task = applied.resource("module.backend_service.aws_ecs_task_definition.this")
    environment = {e["name"]: e["value"] for e in json.loads(task["container_definitions"])[0]["environment"]}
    assert environment["DATABASE_READ_HOSTS"] == applied.resource("module.rds.aws_db_instance.replica[0]")["address"]


def test_backups_are_replicated_to_the_second_region_with_a_key_there(plan, applied):
    replication = plan["module.rds.aws_db_instance_automated_backups_replication.this[0]"]
    assert (replication["region"], replication["retention_period"]) == ("ap-northeast-1", 7)
    key = plan["module.rds.aws_kms_key.backup_replica[0]"]
    assert (key["region"], key["enable_key_rotation"]) == ("ap-northeast-1", True)
    assert plan["module.rds.aws_kms_alias.backup_replica[0]"]["region"] == "ap-northeast-1"
    done = applied.resource("module.rds.aws_db_instance_automated_backups_replication.this[0]")
    assert done["kms_key_id"] == applied.resource("module.rds.aws_kms_key.backup_replica[0]")["arn"]
    assert done["source_db_instance_arn"] == applied.resource("module.rds.aws_db_instance.this")["arn"]


# --- Fargate Spot and scheduled scaling -------------------------------------------------------


def strategy(plan, service: str) -> dict[str, tuple[int, int]]:
    ecs = plan[f"module.{service}_service.aws_ecs_service.this"]
    assert ecs.get("launch_type") is None and ecs["force_new_deployment"] is True
    return {s["capacity_provider"]: (s["base"], s["weight"]) for s in ecs["capacity_provider_strategy"]}


def test_capacity_splits_tasks_between_fargate_and_spot(plan, graph):
    assert strategy(plan, "frontend") == {"FARGATE": (1, 1), "FARGATE_SPOT": (0, 1)}
    # The worker runs on Spot alone: a provider with neither base nor weight is left out.
    assert strategy(plan, "worker") == {"FARGATE_SPOT": (0, 1)}
    backend = plan["module.backend_service.aws_ecs_service.this"]
    assert (backend["launch_type"], backend["capacity_provider_strategy"]) == ("FARGATE", [])
    # ECS refuses a strategy naming a provider the cluster does not have yet.
    for service in ("frontend", "worker"):
        assert depends_on(graph, f"module.{service}_service.aws_ecs_service.this",
                          "module.ecs_cluster.aws_ecs_cluster_capacity_providers.this"), service


def test_schedules_set_the_range_at_their_time_in_their_zone(plan):
    actions = {address.split('"')[1]: values for address, values in plan.items()
               if address.startswith("module.frontend_service.aws_appautoscaling_scheduled_action.this[")}
    got = {name: (a["schedule"], a["timezone"], a["scalable_target_action"][0]["min_capacity"],
                  a["scalable_target_action"][0]["max_capacity"]) for name, a in actions.items()}
    assert got == {"night": ("cron(0 22 ? * MON-FRI *)", "Asia/Seoul", "1", "2"),
                   "morning": ("cron(0 7 ? * MON-FRI *)", "Asia/Seoul", "2", "5")}
    target = plan["module.frontend_service.aws_appautoscaling_target.this"]
    # The target keeps the spec's range, the one the morning restores.
    assert (target["min_capacity"], target["max_capacity"]) == (2, 5)
    assert {a["resource_id"] for a in actions.values()} == {target["resource_id"]}


# --- Intelligent-Tiering ----------------------------------------------------------------------


def test_files_enter_intelligent_tiering_instead_of_the_fixed_classes(plan):
    [rule] = plan["module.s3.aws_s3_bucket_lifecycle_configuration.files"]["rule"]
    assert [(t["days"], t["storage_class"]) for t in rule["transition"]] == [(0, "INTELLIGENT_TIERING")]
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == 90
    tiering = plan["module.s3.aws_s3_bucket_intelligent_tiering_configuration.files[0]"]
    assert tiering["status"] in (None, "Enabled")
    assert sorted((t["access_tier"], t["days"]) for t in tiering["tiering"]) == [
        ("ARCHIVE_ACCESS", 90), ("DEEP_ARCHIVE_ACCESS", 180)]
    # The logs bucket keeps its own lifecycle.
    [logs] = plan["module.s3.aws_s3_bucket_lifecycle_configuration.logs"]["rule"]
    assert [(t["days"], t["storage_class"]) for t in logs["transition"]] == [(90, "GLACIER")]


def test_the_services_reading_files_may_restore_archived_ones(applied):
    """With archive tiers the app restores a file before reading it (restore_archived): the
    services with files access may, and no other."""
    policy = json.loads(applied.resource("module.backend_service.aws_iam_role_policy.task[0]")["policy"])
    [objects] = [s for s in policy["Statement"] if s["Sid"] == "FilesObjects"]
    assert "s3:RestoreObject" in objects["Action"]
    restoring = [address for address, values in state_resources(applied.state)
                 if address.endswith("aws_iam_role_policy.task[0]") and "s3:RestoreObject" in values["policy"]]
    assert restoring == ["module.backend_service.aws_iam_role_policy.task[0]"]


def test_intelligent_tiering_without_archive_tiers_has_no_tiering_configuration(tmp_path):
    prod = variant_of(tmp_path, lambda d: d["storage"].update(intelligent_tiering={}))
    plan = plan_values(prod)
    assert not [a for a in plan if "intelligent_tiering_configuration" in a]
    [rule] = plan["module.s3.aws_s3_bucket_lifecycle_configuration.files"]["rule"]
    assert [(t["days"], t["storage_class"]) for t in rule["transition"]] == [(0, "INTELLIGENT_TIERING")]


# --- blue/green -------------------------------------------------------------------------------


def test_blue_green_service_has_two_groups_and_rules_ecs_moves(plan):
    groups = {key: plan[f'module.alb.aws_lb_target_group.this["{key}"]'] for key in ("backend", "backend-green")}
    same = ("port", "protocol", "target_type", "health_check", "stickiness")
    assert {field: groups["backend"][field] for field in same} == {field: groups["backend-green"][field]
                                                                   for field in same}
    for kind in ("blue_green", "test"):
        rule = plan[f'module.alb.aws_lb_listener_rule.{kind}["backend"]']
        [action] = rule["action"]
        assert sorted(t["weight"] for t in action["forward"][0]["target_group"]) == [0, 100]
        assert [v for c in rule["condition"] for p in c["path_pattern"] for v in p["values"]] == [
            "/api/*", "/socket.io/*"]
    assert 'module.alb.aws_lb_listener_rule.this["backend"]' not in plan
    assert plan["module.alb.aws_lb_listener.test[0]"]["port"] == 8443
    ecs = plan["module.backend_service.aws_ecs_service.this"]
    assert ecs["deployment_configuration"][0]["strategy"] == "BLUE_GREEN"
    assert ecs["deployment_configuration"][0]["bake_time_in_minutes"] == "10"
    # Tasks that never become healthy stop and roll back a blue/green deployment as they do a
    # rolling one (the circuit breaker); its own errors, in either of its groups, do too (alarms).
    assert ecs["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    rollback = {key: plan[f'module.backend_service.aws_cloudwatch_metric_alarm.rollback["{key}"]']
                for key in ("primary", "alternate")}
    assert ecs["alarms"] == [{"alarm_names": [rollback[key]["alarm_name"] for key in ("alternate", "primary")],
                              "enable": True, "rollback": True}]
    assert {(a["metric_name"], a["threshold"], a["period"]) for a in rollback.values()} == {
        ("HTTPCode_Target_5XX_Count", 10, 60)}
    rolling = plan["module.worker_service.aws_ecs_service.this"]
    assert (rolling["deployment_circuit_breaker"], rolling["alarms"]) == ([{"enable": True, "rollback": True}], [])
    ingress = plan['module.security_groups.aws_vpc_security_group_ingress_rule.alb_test_listener["203.0.113.0/24"]']
    assert (ingress["from_port"], ingress["cidr_ipv4"]) == (8443, "203.0.113.0/24")
    # Both groups are watched: the tasks are in either, depending on the last deployment.
    assert {'module.cloudwatch.aws_cloudwatch_metric_alarm.unhealthy_hosts["backend"]',
            'module.cloudwatch.aws_cloudwatch_metric_alarm.unhealthy_hosts["backend-green"]'} <= set(plan)


def test_blue_green_service_names_the_rules_the_groups_and_its_role(applied):
    ecs = applied.resource("module.backend_service.aws_ecs_service.this")
    [balancer] = ecs["load_balancer"]
    [advanced] = balancer["advanced_configuration"]
    groups = {key: applied.resource(f'module.alb.aws_lb_target_group.this["{key}"]')["arn"]
              for key in ("backend", "backend-green")}
    assert (balancer["target_group_arn"], advanced["alternate_target_group_arn"]) == (
        groups["backend"], groups["backend-green"])
    assert advanced["production_listener_rule"] == applied.resource(
        'module.alb.aws_lb_listener_rule.blue_green["backend"]')["arn"]
    assert advanced["test_listener_rule"] == applied.resource('module.alb.aws_lb_listener_rule.test["backend"]')["arn"]
    for key, group in (("primary", "backend"), ("alternate", "backend-green")):
        alarm = applied.resource(f'module.backend_service.aws_cloudwatch_metric_alarm.rollback["{key}"]')
        assert alarm["dimensions"] == {
            "LoadBalancer": applied.resource("module.alb.aws_lb.this")["arn_suffix"],
            "TargetGroup": applied.resource(f'module.alb.aws_lb_target_group.this["{group}"]')["arn_suffix"]}
    role = applied.resource("module.backend_service.aws_iam_role.load_balancers[0]")
    assert advanced["role_arn"] == role["arn"]
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Principal"]["Service"] in (
        "ecs.amazonaws.com", ["ecs.amazonaws.com"])
    policy = applied.resource("module.backend_service.aws_iam_role_policy_attachment.load_balancers[0]")
    assert policy["policy_arn"].endswith(":policy/AmazonECSInfrastructureRolePolicyForLoadBalancers")
    # Rolling services have no such role.
    with pytest.raises(KeyError):
        applied.resource("module.frontend_service.aws_iam_role.load_balancers[0]")


def test_blue_green_service_waits_for_its_rules_and_role(graph):
    node = "module.backend_service.aws_ecs_service.this"
    for needed in ('module.alb.aws_lb_listener_rule.blue_green', 'module.alb.aws_lb_listener_rule.test',
                   "module.backend_service.aws_iam_role_policy_attachment.load_balancers"):
        assert depends_on(graph, node, needed), needed


def test_blue_green_default_service_gets_a_catch_all_rule(tmp_path):
    def change(data):
        data["services"]["frontend"]["deployment"] = {"strategy": "blue_green"}
        data["services"]["frontend"]["routing"] = {"rules": []}
        del data["services"]["frontend"]["capacity"]  # not with blue_green
    prod = variant_of(tmp_path, change)
    plan = plan_values(prod)
    rule = plan['module.alb.aws_lb_listener_rule.blue_green["frontend"]']
    assert rule["priority"] == 50000
    assert [v for c in rule["condition"] for p in c["path_pattern"] for v in p["values"]] == ["/*"]
    # CloudFront still caches the frontend's pages: the catch-all is not an uncached API path.
    behaviors = plan["module.cloudfront.aws_cloudfront_distribution.this"]["ordered_cache_behavior"]
    assert "/*" not in [b["path_pattern"] for b in behaviors]


def test_a_service_names_its_build_and_health_check_or_takes_the_defaults(plan, applied):
    """services.<name>.build and health_check_command: the worker builds services/worker/Dockerfile
    and checks itself with its own command; the frontend takes the defaults (<name>/Dockerfile.prod,
    node requesting its health check path)."""
    def build(service: str) -> list[str]:
        project = plan[f'module.codepipeline.aws_codebuild_project.this["{service}"]']
        return yaml.safe_load(project["source"][0]["buildspec"])["phases"]["build"]["commands"]

    def health(service: str) -> list[str]:
        definition = applied.resource(f"module.{service}_service.aws_ecs_task_definition.this")
        [container] = json.loads(definition["container_definitions"])
        return container["healthCheck"]["command"]

    assert "cd services/worker && docker build -t $ECR_REPO:$IMAGE_TAG -f Dockerfile . &&" in build("worker")[-1]
    assert "cd frontend && docker build -t $ECR_REPO:$IMAGE_TAG -f Dockerfile.prod . &&" in build("frontend")[-1]
    assert health("worker") == ["CMD-SHELL", "test -f /tmp/worker-alive"]
    assert health("frontend")[:3] == ["CMD", "node", "-e"] and "/api/health" in health("frontend")[3]


def test_the_deployment_guide_of_the_options_passes_shellcheck(variant, tmp_path):
    """With every option on, the guide has the test listener and the second region's restore."""
    readme = (variant.parent.parent / "README.md").read_text()
    assert "--connect-to" in readme and "--source-db-instance-automated-backups-arn" in readme
    assert shellcheck_readme(readme, tmp_path) == (0, "")


# --- what each service reaches: its own group, Redis signed in with IAM, the final snapshot ------


def test_each_task_has_a_group_of_its_own_that_only_the_stores_it_uses_admit(applied):
    """The frontend faces the internet and names no data store: neither admits it. The backend
    names both, the worker PostgreSQL only, the database setup task PostgreSQL."""
    groups = {address.split('"')[1]: values["id"] for address, values in state_resources(applied.state)
              if address.startswith("module.security_groups.aws_security_group.task[")}
    assert sorted(groups) == ["backend", "database-setup", "frontend", "worker"]
    for service in ("frontend", "backend", "worker"):
        ecs = applied.resource(f"module.{service}_service.aws_ecs_service.this")
        assert ecs["network_configuration"][0]["security_groups"] == [groups[service]]
    admitted = {}
    for address, values in state_resources(applied.state):
        for store in ("rds", "redis"):
            if address.startswith(f"module.security_groups.aws_vpc_security_group_ingress_rule.{store}_from_"):
                admitted.setdefault(store, set()).add(values["referenced_security_group_id"])
    bastion = applied.resource("module.security_groups.aws_security_group.bastion[0]")["id"]
    assert admitted == {"rds": {groups["backend"], groups["worker"], groups["database-setup"], bastion},
                        "redis": {groups["backend"], bastion}}
    # The load balancer reaches the routed services' groups on their ports, nothing else.
    reached = {(v["referenced_security_group_id"], v["from_port"]) for a, v in state_resources(applied.state)
               if a.startswith("module.security_groups.aws_vpc_security_group_egress_rule.alb_to_task[")}
    assert reached == {(groups["frontend"], 3000), (groups["backend"], 3001)}


def test_redis_takes_only_users_signed_in_with_iam(applied):
    group = applied.resource("module.elasticache.aws_elasticache_replication_group.this")
    users = applied.resource("module.elasticache.aws_elasticache_user_group.this")
    default = applied.resource("module.elasticache.aws_elasticache_user.default")
    app = applied.resource("module.elasticache.aws_elasticache_user.app")
    assert group["user_group_ids"] == [users["user_group_id"]]
    assert (group["transit_encryption_enabled"], group["transit_encryption_mode"], group.get("auth_token")) == (
        True, "required", None)
    assert sorted(users["user_ids"]) == sorted([default["user_id"], app["user_id"]])
    # A connection that has not signed in is the default user, which is off and can run nothing.
    assert (default["user_name"], default["access_string"], default["authentication_mode"][0]["type"]) == (
        "default", "off ~* -@all", "no-password-required")
    assert (app["user_name"], app["authentication_mode"][0]["type"]) == (app["user_id"], "iam")
    assert not app.get("passwords")

    def connect(service):
        found = [address for address, _ in state_resources(applied.state)
                 if address == f"module.{service}_service.aws_iam_role_policy.task[0]"]
        if not found:
            return None
        policy = json.loads(applied.resource(found[0])["policy"])
        return next((s["Resource"] for s in policy["Statement"] if s["Sid"] == "RedisConnect"), None)

    assert sorted(connect("backend")) == sorted([group["arn"], app["arn"]])
    assert (connect("frontend"), connect("worker")) == (None, None)
    # The backend is told where and as whom to sign in.
    definition = applied.resource("module.backend_service.aws_ecs_task_definition.this")
    [container] = json.loads(definition["container_definitions"])
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert {key: environment[key] for key in ("REDIS_TLS", "REDIS_USER", "REDIS_CACHE_NAME")} == {
        "REDIS_TLS": "true", "REDIS_USER": app["user_name"], "REDIS_CACHE_NAME": group["replication_group_id"]}


def test_redis_is_snapshotted_at_a_destroy_under_a_name_no_earlier_destroy_used(applied, tmp_path):
    group = applied.resource("module.elasticache.aws_elasticache_replication_group.this")
    created = applied.resource("module.elasticache.terraform_data.created[0]")["output"]
    assert re.fullmatch(r"\d{14}", created)
    assert group["final_snapshot_identifier"] == f"{group['replication_group_id']}-final-{created}"
    disposable = plan_values(variant_of(tmp_path, lambda d: d.update(cache={"final_snapshot": False})))
    assert disposable["module.elasticache.aws_elasticache_replication_group.this"]["final_snapshot_identifier"] is None
    assert not [a for a in disposable if "terraform_data.created" in a]


# --- cost -------------------------------------------------------------------------------------


def variant_estimate(*scenario: str):
    return estimate(VARIANT, "prod", *scenario)


# The variant has no price file of its own: tfgen's book prices it (AWS's prices per vCPU and GB).
VARIANT_BOOK = cost.price_book("ap-northeast-2", VARIANT)
# What a Spot task costs, as a share of the on-demand price.
SPOT = 1 - D(VARIANT_BOOK["fargate"]["spot_discount"]["value"])
X86 = VARIANT_BOOK["fargate"]["x86"]
TASK_HOUR = {f"{cpu}/{memory}": cpu / D(1024) * D(X86["vcpu_hour"]["usd"]) + memory / D(1024) * D(X86["gb_hour"]["usd"])
             for cpu, memory in ((256, 512), (512, 1024), (1024, 2048))}


def variant_price(*keys: str) -> Decimal:
    entry = VARIANT_BOOK
    for key in keys:
        entry = entry[key]
    return D(entry["usd"])


def test_spot_tasks_cost_the_discounted_price():
    got = lines(variant_estimate())
    # frontend: 2 tasks, 1 on the on-demand base, the second split 1:1.
    assert got[("ECS Fargate", "Frontend")] == cents(TASK_HOUR["512/1024"] * (Decimal("1.5") + Decimal("0.5") * SPOT)
                                                     * HOURS)
    assert got[("ECS Fargate", "Worker")] == cents(TASK_HOUR["256/512"] * SPOT * HOURS)
    assert got[("ECS Fargate", "Backend")] == cents(TASK_HOUR["1024/2048"] * 3 * HOURS)


def test_scale_in_follows_the_schedules():
    """The frontend runs 2 tasks from 07:00 to 22:00 Seoul time on weekdays and 1 otherwise (its
    night schedule holds from Friday night to Monday morning), hour by hour over the book's year."""
    year = VARIANT_BOOK["year"]
    hour, end, hours = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), []
    while hour < end:
        local = hour.astimezone(ZoneInfo("Asia/Seoul"))
        hours.append(2 if local.weekday() < 5 and 7 <= local.hour < 22 else 1)
        hour += timedelta(hours=1)
    tasks = Decimal(sum(hours)) / len(hours)
    # Spot takes half of what is beyond the one base task: in the day hours only.
    spot = Decimal(sum(Decimal("0.5") for count in hours if count == 2)) / len(hours)
    task_hour = TASK_HOUR["512/1024"]
    hourly = task_hour * (tasks - spot) + task_hour * SPOT * spot
    assert lines(variant_estimate("scale_in"))[("ECS Fargate", "Frontend")] == cents(hourly * HOURS)
    # Without schedules a service averages its min_count, as before.
    team_task_hour = {(s["cpu"], s["memory"]): D(s["usd"]) for s in BOOK["fargate"]["task_hour"]}[(512, 1024)]
    assert lines(estimate(SPECS, "prod", "scale_in"))[("ECS Fargate", "Frontend")] == cents(team_task_hour * 2 * HOURS)


def test_replicas_backups_tiering_and_bastion_are_priced():
    got = lines(variant_estimate())
    assert got[("RDS PostgreSQL", "Read replicas")] == cents(variant_price("rds", "instance_hour", "db.t4g.small")
                                                             * HOURS)
    assert got[("RDS PostgreSQL", "Replica storage")] == cents(50 * variant_price("rds", "gp3_gb_month"))
    assert got[("RDS PostgreSQL", "Cross-region backup")] == cents(50 * variant_price("rds", "backup_gb_month"))
    assert got[("S3", "Storage")] == cents(50 * variant_price("s3", "storage_gb_month", "standard")
                                           * D(VARIANT_BOOK["s3"]["intelligent_tiering_factor"]["value"]))
    # tfgen's book has no price for t4g.nano: the estimate says so rather than guess.
    assert ("EC2", "Bastion host") not in got
    assert any(note.startswith("EC2 instance type t4g.nano ($.bastion.instance_type)")
               for note in variant_estimate().unpriced)


def test_a_free_tier_bastion_is_free_with_the_free_tier(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(VARIANT, specs)
    edit(specs / "prod.yaml", "bastion: {}", "bastion: {instance_type: t2.micro}")
    # A price of the test's own: which classes tfgen's book prices is not this test's business.
    (specs / "_prices.yaml").write_text("ec2:\n  instance_hour:\n    t2.micro: {usd: 0.02, source: test}\n")
    assert lines(estimate(specs, "prod"))[("EC2", "Bastion host")] == cents(D("0.02") * HOURS)
    assert lines(estimate(specs, "prod", "free_tier"))[("EC2", "Bastion host")] == 0


def test_the_real_specs_cost_what_they_did_without_options():
    """No option is on in specs/, so none of their lines is new (the document's tables hold)."""
    for env in ENVS:
        found = estimate(SPECS, env).lines
        assert "EC2" not in {line.service for line in found}
        assert not {line.item for line in found} & {"Read replicas", "Replica storage", "Cross-region backup"}

