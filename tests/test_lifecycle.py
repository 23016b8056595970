"""The second month of the committed tree, offline: releases and the image expiry between them,
a disposable environment destroyed and created again in one account, a protected one whose
destroy is refused before anything is deleted, and spec changes applied over a running
environment (a PostgreSQL major upgrade, a blue/green service's port).

The stand-in account (terraform_harness) refuses what AWS refuses at those moments: a bucket or
repository that holds objects, a secret name in its recovery window, deletion protection, a
target group a listener rule still forwards to, a major engine upgrade without its flag; and
it expires images by the repositories' lifecycle policies. Which environment is disposable and
which protected is read from the specs (`teardown`), not assumed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import GENERATED, SPECS, planned, project_of, write_tree
from support import state_terraform

from codemate_tfgen import pipeline
from codemate_tfgen.errors import UsageError
from codemate_tfgen.layout import DESTROYED_RECORD
from codemate_tfgen.render.context import build_context
from codemate_tfgen.spec.load import environment_names, load_spec
from codemate_tfgen.verify.replacing import applies_immediately
from terraform_harness import Account, run_terraform
from terraform_harness.runner import state_resources

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

ENVS = GENERATED / "infrastructure" / "environments"
TEARDOWN = {name: build_context(load_spec(SPECS, name)).flags.protected for name in environment_names(SPECS)}
DISPOSABLE = sorted(env for env, protected in TEARDOWN.items() if not protected)
PROTECTED = sorted(env for env, protected in TEARDOWN.items() if protected)


def of_type(result, type_name: str) -> list[dict]:
    """Applied values of the managed resources (not data sources) of one type."""
    return [values for address, values in state_resources(result.state)
            if address.split(".")[-2:-1] == [type_name] and address.split(".")[-3:-2] != ["data"]]


def errors(result) -> list[str]:
    return [str(d) for d in result.errors]


def test_the_specs_have_both_kinds_of_environment():
    # Otherwise the tests below would run on nothing.
    assert DISPOSABLE and PROTECTED, TEARDOWN


# --- releases ------------------------------------------------------------------------------


def release_settings(result) -> dict[str, str]:
    """The release project's LIVE_TAG and RELEASE_TAG_PREFIX (if it tags releases), as Terraform
    applied them."""
    [project] = [p for p in of_type(result, "aws_codebuild_project") if p["name"].endswith("-release")]
    return {v["name"]: v["value"] for v in project["environment"][0]["environment_variable"]}


def release_twelve_times(account: Account, result) -> None:
    """Ten merges between releases, each built and pushed; each release tags its commit as the
    release buildspec does (the release tag, then live); ECR's lifecycle runs daily; ten more
    merges wait for the thirteenth release. Then a
    scale-out (or a Spot replacement, or any apply that starts tasks): ECS pulls what the
    services' task definitions name, Terraform's revision (live) and the pipeline's (the
    commit), and a rollback pulls the release before."""
    settings = release_settings(result)
    live, prefix = settings["LIVE_TAG"], settings.get("RELEASE_TAG_PREFIX")
    repositories = [r["name"] for r in of_type(result, "aws_ecr_repository")]
    released: list[str] = []
    for release in range(1, 13):
        for merge in range(1, 11):
            commit = f"{release:03d}{merge:04d}"
            for repository in repositories:
                account.push_image(repository, [commit])
        for repository in repositories:
            for tag in ([prefix + commit] if prefix else []) + [live]:
                account.tag_image(repository, commit, tag)
        released.append(commit)
        account.expire_images(days=1)
    # The next ten merges are built and wait for the next release.
    for merge in range(1, 11):
        for repository in repositories:
            account.push_image(repository, [f"013{merge:04d}"])
    account.expire_images(days=1)
    images = [container["image"] for definition in of_type(result, "aws_ecs_task_definition")
              for container in json.loads(definition["container_definitions"]) if ".dkr.ecr." in container["image"]]
    assert images and all(image.endswith(f":{live}") for image in images)
    pulls = [image.replace(f":{live}", f":{tag}") for image in images for tag in (live, *released[-2:])]
    assert {image: account.pull(image) for image in pulls} == dict.fromkeys(pulls)
    # The policy still expires: of 130 pushes a repository keeps the newest, live and the releases.
    for repository in repositories:
        assert len(account.images(repository)) <= 10 + 1 + 5


# --- teardown ------------------------------------------------------------------------------


@pytest.mark.parametrize("env", DISPOSABLE)
def test_disposable_environment_releases_then_is_destroyed_and_created_again_twice(env):
    # One account through the environment's life: twelve releases and a scale-out, then
    # destroyed with data in its buckets and images in its repositories, created again at once
    # (the secrets' names are free), used and destroyed again.
    account = Account()
    for cycle in (1, 2):
        created = run_terraform(ENVS / env, apply=True, account=account)
        assert errors(created) == [], cycle
        if cycle == 1:
            release_twelve_times(account, created)
        for bucket in of_type(created, "aws_s3_bucket"):
            account.put_object(bucket["bucket"], f"cycle-{cycle}/object")
        for repository in of_type(created, "aws_ecr_repository"):
            account.push_image(repository["name"], [f"cycle{cycle}"])
        destroyed = run_terraform(ENVS / env, destroy=True, account=account)
        assert errors(destroyed) == [], cycle
        assert destroyed.destroyed == created.applied


@pytest.mark.parametrize("env", sorted(TEARDOWN))
def test_what_a_destroy_empties_follows_the_teardown(env):
    plan = planned(env)
    disposable = not TEARDOWN[env]

    def values(type_name: str, attribute: str) -> set:
        found = {v[attribute] for a, v in plan.items() if a.split(".")[-2:-1] == [type_name.split("[")[0]]
                 and not a.startswith("data.") and ".data." not in a}
        assert found, type_name
        return found

    assert values("aws_s3_bucket", "force_destroy") == {disposable}
    assert values("aws_ecr_repository", "force_delete") == {disposable}
    # Secrets Manager's own default is 30 days; the module's 7 keeps a protected secret restorable.
    assert values("aws_secretsmanager_secret", "recovery_window_in_days") == {0 if disposable else 7}
    # Unset in the specs: a protected environment's data stores change in their maintenance
    # window (a class or parameter change restarts them), a disposable one's at once.
    assert values("aws_db_instance", "apply_immediately") == {disposable}
    # The rule tfgen applies when it refuses a major upgrade deferred to the maintenance window.
    settings = build_context(load_spec(SPECS, env)).settings
    assert values("aws_db_instance", "apply_immediately") == {applies_immediately(settings["database"],
                                                                                   settings["teardown"])}
    assert values("aws_elasticache_replication_group", "apply_immediately") == {disposable}


def test_every_protected_root_holds_the_guard_and_no_disposable_one_does():
    guard = 'resource "terraform_data" "teardown_guard"'
    assert {env: guard in (ENVS / env / "main.tf").read_text() for env in TEARDOWN} == TEARDOWN


# The guard is the same block in every protected root (above): one of them is applied and destroyed.
@pytest.mark.parametrize("env", PROTECTED[:1])
def test_protected_environment_refuses_a_destroy_before_deleting_anything(env):
    account = Account()
    assert errors(run_terraform(ENVS / env, apply=True, account=account)) == []
    destroyed = run_terraform(ENVS / env, destroy=True, account=account)
    assert [d.summary for d in destroyed.errors] == ["Instance cannot be destroyed"]
    assert "teardown_guard" in destroyed.errors[0].detail
    assert destroyed.destroyed == 0
    # Everything is still there: a plan refreshing it finds nothing gone or changed.
    after = run_terraform(ENVS / env, account=account)
    assert errors(after) == [] and after.plan.empty and after.plan.drift == {}


def destroy_with_the_script(tree: Path, env: str, account: Account, work: Path):
    """scripts/destroy.sh --yes ENV as an operator runs it: its terraform state commands act on the
    state the account holds for the root (support.STATE_TERRAFORM), and its destroy, of the state
    the script leaves, is the harness's. Returns the script's run and the destroy's result."""
    root = (tree / "environments" / env).resolve()
    (work / "bin").mkdir(parents=True)
    state_terraform(work / "bin")
    (work / "state.json").write_text(account.states[str(root)])
    (work / "calls.log").write_text("")
    script = subprocess.run(
        ["bash", str(tree / "scripts" / "destroy.sh"), "--yes", env], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": f"{work / 'bin'}{os.pathsep}{os.environ['PATH']}",
             "FAKE_LOG": str(work / "calls.log"), "FAKE_TF_STATE": str(work / "state.json"),
             "FAKE_TF_DESTROYED": str(work / "destroyed.json")})
    assert script.returncode == 0, script.stderr
    account.states[str(root)] = (work / "destroyed.json").read_text()
    return script, run_terraform(root, destroy=True, account=account)


def with_final_snapshots(specs: Path, env: str) -> None:
    spec = specs / f"{env}.yaml"
    edit_spec(spec, "database", "final_snapshot", True)
    edit_spec(spec, "database", "retain_automated_backups", True)
    edit_spec(spec, "cache", "final_snapshot", True)


def test_teardowns_keep_their_final_snapshots_readable_under_new_names(specs, tmp_path):
    """A disposable environment with final snapshots, created and destroyed twice in one account
    by scripts/destroy.sh: each destroy leaves a snapshot of the database and of the cache, under
    a name no earlier one has (AWS refuses a taken name), and the keys encrypting them are kept
    out of the destroy (a key scheduled for deletion makes its snapshots unreadable); the script
    names both."""
    env = DISPOSABLE[0]
    with_final_snapshots(specs, env)
    tree = render(specs, tmp_path / "out")
    account = Account()
    for cycle in (1, 2):
        created = run_terraform(tree / "environments" / env, apply=True, account=account)
        assert errors(created) == [], cycle
        script, destroyed = destroy_with_the_script(tree, env, account, tmp_path / f"destroy-{cycle}")
        assert errors(destroyed) == [], cycle
        for type_name in ("aws_db_instance", "aws_elasticache_replication_group"):
            [store] = [v for v in of_type(created, type_name) if v.get("final_snapshot_identifier")]
            assert f"final snapshot: {store['final_snapshot_identifier']}" in script.stdout
        for key in of_type(created, "aws_kms_key"):
            if key["arn"] in {s["kms_key_id"] for t in ("aws_db_instance", "aws_elasticache_replication_group")
                              for s in of_type(created, t)}:
                assert f"keeping KMS key {key['arn']}" in script.stdout
        assert (tree / "environments" / env / DESTROYED_RECORD).is_file()
    snapshots = account.snapshots()
    assert len(snapshots) == 4 and all(snapshots.values()), snapshots


def test_two_replacements_of_the_database_keep_both_final_snapshots(specs, tmp_path):
    """db_name forces a new instance: each replacement deletes the old one with a final snapshot,
    whose name must not repeat the one before."""
    env = DISPOSABLE[0]
    with_final_snapshots(specs, env)
    account = Account()
    for name in ("codemate", "codemate_two", "codemate_three"):
        edit_spec(specs / f"{env}.yaml", "database", "database_name", name)
        tree = render(specs, tmp_path / "out")
        applied = run_terraform(tree / "environments" / env, apply=True, account=account)
        assert errors(applied) == [], name
    rds = [a for a in account.snapshots() if a.startswith(of_type(applied, "aws_db_instance")[0]["identifier"])]
    assert len(rds) == 2, account.snapshots()


# --- spec changes over a running environment -------------------------------------------------


def render(specs: Path, out: Path) -> Path:
    files, _ = pipeline.build(project_of(specs, out), ())
    return write_tree(files, out)


def edit_spec(spec: Path, section: str, key: str, value) -> None:
    """Sets `section.key` in the environment's own spec file (its base's values stay inherited)."""
    data = yaml.safe_load(spec.read_text())
    node = data
    for part in section.split("."):
        node = node.setdefault(part, {})
    node[key] = value
    spec.write_text(yaml.safe_dump(data, sort_keys=False))


def test_postgresql_major_upgrade_is_applied_in_place(specs, tmp_path):
    env = DISPOSABLE[0]
    spec = specs / f"{env}.yaml"
    edit_spec(spec, "database", "engine_version", "16")
    tree = render(specs, tmp_path / "out")
    account = Account()
    assert errors(run_terraform(tree / "environments" / env, apply=True, account=account)) == []
    edit_spec(spec, "database", "engine_version", "17")
    tree = render(specs, tmp_path / "out")
    upgraded = run_terraform(tree / "environments" / env, apply=True, account=account)
    assert errors(upgraded) == []
    replaced = {a for a, action in upgraded.plan.actions.items() if action == "replace"}
    assert not any("aws_db_instance" in a for a in replaced), replaced
    assert upgraded.second_plan.empty


def test_blue_green_service_port_change_is_refused_then_applied_when_allowed(specs, tmp_path):
    """A new port replaces both target groups, and the weighted rules, whose action Terraform
    leaves to ECS, with them (kept, they would forward to the old groups, which ELB refuses to
    delete, as the stand-in does). The new rules send all traffic to the new primary group, which
    holds no task until ECS's deployment has moved it: `render` refuses the change, naming the
    spec line, until the outage is accepted with --allow-replace; then one apply makes it."""
    env = DISPOSABLE[0]
    spec = specs / f"{env}.yaml"
    project = project_of(specs, tmp_path / "out")
    edit_spec(spec, "services.backend", "deployment", {"strategy": "blue_green"})
    pipeline.render_to_disk(project, ())
    root = tmp_path / "out" / "infrastructure" / "environments" / env
    account = Account()
    assert errors(run_terraform(root, apply=True, account=account)) == []
    edit_spec(spec, "services.backend", "port", 3002)
    with pytest.raises(UsageError) as refused:
        pipeline.render_to_disk(project, ())
    [line] = [line for line in str(refused.value).splitlines() if "$.services.backend.port" in line]
    assert f"{spec.name}:" in line.split(" ")[0], line  # the environment's spec, where the port was set
    assert "3001 -> 3002" in line and "503s" in line and "--allow-replace" in line
    pipeline.render_to_disk(project, (), allow_replace=True)
    changed = run_terraform(root, apply=True, account=account)
    assert errors(changed) == []
    assert changed.second_plan.empty
    replaced = {address for address, action in changed.plan.actions.items() if action == "replace"}
    assert {'module.alb.aws_lb_target_group.this["backend"]', 'module.alb.aws_lb_target_group.this["backend-green"]',
            'module.alb.aws_lb_listener_rule.blue_green["backend"]',
            'module.alb.aws_lb_listener_rule.test["backend"]'} <= replaced
    groups = {key: changed.resource(f'module.alb.aws_lb_target_group.this["{key}"]')
              for key in ("backend", "backend-green")}
    assert {group["port"] for group in groups.values()} == {3002}
    for kind in ("blue_green", "test"):
        [action] = changed.resource(f'module.alb.aws_lb_listener_rule.{kind}["backend"]')["action"]
        assert {t["arn"]: t["weight"] for t in action["forward"][0]["target_group"]} == {
            groups["backend"]["arn"]: 100, groups["backend-green"]["arn"]: 0}
