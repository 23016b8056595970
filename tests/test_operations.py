"""Operations that outlive the first apply: teardown, major upgrades, restores (docs/operations.md).

Each test renders the all-options golden variant (a database with a read replica and backups
replicated to a second region) with the values it asserts set by the test itself, then plans
or applies it in the offline harness, as an operator would run the documented steps.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from conftest import GENERATED, GOLDEN, project_of, tree_files, write_tree
from support import bash_blocks, make_edits, owner_section, teardown

from codemate_tfgen import pipeline
from codemate_tfgen.layout import DESTROYED_RECORD
from codemate_tfgen.spec.schema import resolve, spec_schema
from codemate_tfgen.verify.replacing import REPLACING
from terraform_harness import Account, depends_on, run_terraform, terraform_graph
from terraform_harness.provider import REPLACE_FORCING

VARIANT = GOLDEN / "all-options" / "specs"
INSTANCE = "module.rds.aws_db_instance.this"
REPLICA = "module.rds.aws_db_instance.replica[0]"


def rendered(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The variant's prod spec changed by `change`, rendered into tmp_path/out (the same
    directory every time, so an Account's state of it carries over): its prod root module."""
    specs = tmp_path / "specs"
    if not specs.exists():
        shutil.copytree(VARIANT, specs)  # the symlinked bases are copied as files
    data = yaml.safe_load((specs / "prod.yaml").read_text())
    change(data)
    (specs / "prod.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return write_tree(pipeline.build(project_of(specs), ())[0], tmp_path / "out") / "environments" / "prod"


def database(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.setdefault("database", {}).update(values)


def planned_instance(tmp_path: Path, **values: Any) -> dict[str, Any]:
    result = run_terraform(rendered(tmp_path, database(**values)))
    assert [str(d) for d in result.errors] == []
    return result.planned_values[INSTANCE]


# --- teardown keeps the data (finding 1) -----------------------------------------------------


@pytest.mark.slow  # real Terraform
def test_an_unprotected_database_still_leaves_a_final_snapshot_and_its_backups(tmp_path):
    """Turning deletion protection off for a destroy must not also drop the final snapshot and
    the automated backups: the three are separate settings."""
    instance = planned_instance(tmp_path, deletion_protection=False, final_snapshot=True,
                                retain_automated_backups=True)
    assert instance["deletion_protection"] is False
    assert instance["skip_final_snapshot"] is False
    assert instance["delete_automated_backups"] is False
    # Named after the time it is created, known once applied: not a fixed name a second destroy finds taken.
    assert "final_snapshot_identifier" not in instance


@pytest.mark.slow  # real Terraform
def test_a_disposable_database_keeps_nothing(tmp_path):
    instance = planned_instance(tmp_path, deletion_protection=False, final_snapshot=False,
                                retain_automated_backups=False)
    assert (instance["skip_final_snapshot"], instance["delete_automated_backups"]) == (True, True)
    assert instance["final_snapshot_identifier"] is None


@pytest.mark.slow  # real Terraform
def test_protection_alone_does_not_decide_the_snapshot(tmp_path):
    instance = planned_instance(tmp_path, deletion_protection=True, final_snapshot=False,
                                retain_automated_backups=False)
    assert (instance["deletion_protection"], instance["skip_final_snapshot"]) == (True, True)


@pytest.mark.slow  # real Terraform
def test_a_protected_database_changes_in_its_maintenance_window_unless_the_spec_says_otherwise(tmp_path):
    """Unset, apply_immediately follows teardown (the variant is protected): a class change must
    not restart production when it is applied. The spec's value wins either way."""
    instance = planned_instance(tmp_path)
    assert instance["apply_immediately"] is False
    assert planned_instance(tmp_path, apply_immediately=True)["apply_immediately"] is True
    cache = run_terraform(rendered(tmp_path, lambda data: data.setdefault("cache", {}).update(apply_immediately=True)))
    assert cache.planned_values["module.elasticache.aws_elasticache_replication_group.this"]["apply_immediately"]


@pytest.mark.slow  # real Terraform
def test_the_final_snapshot_is_named_after_the_instance_and_the_time_it_was_created(tmp_path):
    prod = rendered(tmp_path, database(final_snapshot=True))
    result = run_terraform(prod, apply=True)
    assert [str(d) for d in result.errors] == []
    instance = result.resource(INSTANCE)
    created = result.resource("module.rds.terraform_data.created[0]")["output"]
    assert re.fullmatch(r"\d{14}", created)
    assert instance["final_snapshot_identifier"] == f"{instance['identifier']}-final-{created}"


@pytest.mark.parametrize(("module", "type_name"), [("rds", "aws_db_instance"),
                                                  ("elasticache", "aws_elasticache_replication_group")])
def test_whatever_replaces_a_data_store_renews_its_final_snapshot_name(module, type_name):
    """The final snapshot's name comes from a stamp (terraform_data.created) that is replaced with
    the store: every replace-forcing argument the store sets from a variable or another resource
    (the offline provider's REPLACE_FORCING, checked against the provider's) must be among the
    stamp's triggers, or a second replacement would take a snapshot under a name already taken."""
    main = hcl2.loads((GENERATED / "infrastructure" / "modules" / "database" / module / "main.tf").read_text())
    blocks = {(kind.strip('"'), name.strip('"')): body for block in main["resource"]
              for kind, named in block.items() for name, body in named.items()}
    store, stamp = blocks[(type_name, "this")], blocks[("terraform_data", "created")]
    forcing = {argument: store[argument] for argument in REPLACE_FORCING[type_name]
               if isinstance(store.get(argument), str) and store[argument].startswith("${")}
    assert forcing  # the check ran on something
    assert {argument: value for argument, value in forcing.items() if value not in stamp["triggers_replace"]} == {}
    assert "terraform_data.created[0].output" in store["final_snapshot_identifier"]


# --- major version upgrade (finding 8) -------------------------------------------------------


@pytest.mark.slow  # real Terraform
def test_a_major_upgrade_is_an_in_place_change_of_the_spec(tmp_path):
    """16 -> 17 with a read replica: the instance is updated in place with the flag RDS needs,
    at once (its old parameter group can be deleted only after it has left it); the parameter
    groups take the new family, created before the old ones are destroyed; the replica, which
    RDS upgrades with its primary, changes after it."""
    account = Account()
    # The upgrade's apply is made at once (the documented step for a protected environment).
    prod = rendered(tmp_path, database(engine_version="16", apply_immediately=True))
    first = run_terraform(prod, apply=True, account=account)
    assert [str(d) for d in first.errors] == []
    assert first.resource(INSTANCE)["engine_version"] == "16"

    assert rendered(tmp_path, database(engine_version="17")) == prod
    upgrade = run_terraform(prod, account=account)
    assert [str(d) for d in upgrade.errors] == []
    actions = upgrade.planned_actions
    assert actions[INSTANCE] == ["update"]
    deleted = sorted(a for a, act in actions.items() if "delete" in act and "aws_db_parameter_group" not in a)
    assert deleted == []
    instance = upgrade.planned_values[INSTANCE]
    assert (instance["engine_version"], instance["allow_major_version_upgrade"]) == ("17", True)
    assert instance["apply_immediately"] is True
    assert upgrade.planned_values[REPLICA]["apply_immediately"] is True
    groups = [a for a in actions if "aws_db_parameter_group" in a]
    assert sorted(groups) == [f"module.rds.aws_db_parameter_group.{g}" for g in ("replica[0]", "this")]
    assert {upgrade.planned_values[g]["family"] for g in groups} == {"postgres17"}

    main = hcl2.loads((prod.parent.parent / "modules" / "database" / "rds" / "main.tf").read_text())
    for block in main["resource"]:
        for name, body in block.get('"aws_db_parameter_group"', {}).items():
            assert body["lifecycle"][0]["create_before_destroy"] is True, name
            assert "name" not in body and "name_prefix" in body, name  # a second group beside the first
    assert depends_on(terraform_graph(prod), "module.rds.aws_db_instance.replica", INSTANCE)


# --- retiring an environment (class: no orphaned infrastructure) ------------------------------


def environment_of(specs: Path) -> str:
    return sorted(p.stem for p in specs.glob("*.yaml") if not p.name.startswith("_"))[-1]


def test_a_root_whose_spec_is_gone_is_neither_rendered_away_nor_passed(cli, specs, tmp_path):
    out = tmp_path / "out"
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    env = environment_of(specs)
    root = out / "infrastructure" / "environments" / env
    before = tree_files(out)
    (specs / f"{env}.yaml").unlink()
    for command in (("render",), ("render", "--dry-run"), ("render", environment_of(specs)), ("check",)):
        code, _, err = cli(*command, "--specs", specs, "--out", out)
        assert code == 2, command
        assert f"`tfgen retire {env}`" in err and f"scripts/destroy.sh {env}" in err, err
    assert tree_files(out) == before
    destroy = (out / "infrastructure" / "scripts" / "destroy.sh").read_text()
    assert f"'{env}'" in destroy.partition("ENVIRONMENTS=")[2].splitlines()[0]
    assert root.is_dir()


def test_retire_removes_the_root_and_the_scripts_forget_it(cli, specs, tmp_path):
    out = tmp_path / "out"
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    env = environment_of(specs)
    code, _, err = cli("retire", env, "--specs", specs, "--out", out)
    assert code == 2 and "still has a spec" in err  # destroy first, while the spec exists
    (specs / f"{env}.yaml").unlink()
    root = out / "infrastructure" / "environments" / env
    # Not destroyed yet (no record of destroy.sh's): refused, with the command to run; nothing changes.
    before = tree_files(out)
    code, _, err = cli("retire", env, "--specs", specs, "--out", out)
    assert code == 2 and f"run scripts/destroy.sh {env} first" in err and DESTROYED_RECORD in err, err
    assert tree_files(out) == before
    (root / DESTROYED_RECORD).write_text("destroyed 2026-12-05T12:00:00Z: terraform state list was empty\n")
    code, stdout, err = cli("retire", env, "--specs", specs, "--out", out)
    assert code == 0, err
    assert f"removed: infrastructure/environments/{env}/main.tf" in stdout
    assert not (out / "infrastructure" / "environments" / env).exists()
    destroy = (out / "infrastructure" / "scripts" / "destroy.sh").read_text()
    assert f"'{env}'" not in destroy.partition("ENVIRONMENTS=")[2].splitlines()[0]
    assert cli("check", "--specs", specs, "--out", out)[0] == 0
    code, _, err = cli("retire", env, "--specs", specs, "--out", out)
    assert code == 2 and f"no root of '{env}'" in err


# --- a change that replaces a stateful resource is named first (class) ------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = copy.deepcopy(value)  # a later change of the spec must not change this one's value
    return change


def _all(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for each in changes:
            each(data)
    return change


def _remove_service(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["services"].pop(name)


# What the variant starts from (set here, so the test depends on no spec's value) and, per field
# of replacing.REPLACING, a change of it.
BASELINE = _all(_set("database.deletion_protection", True), _set("database.database_name", "codemate"),
                _set("cache.engine_version", "7.1"), _set("cache.cluster_mode", True),
                _set("database.cross_region_backup", {"region": "ap-northeast-1", "retention_days": 7}))
CHANGES: dict[tuple[str, ...], Callable[[dict[str, Any]], None]] = {
    ("region",): _all(_set("region", "ap-northeast-3"),
                      _set("network.availability_zones", ["ap-northeast-3a", "ap-northeast-3c"])),
    ("project",): _set("project", "codemate-next"),
    ("database", "database_name"): _set("database.database_name", "app"),
    ("database", "cross_region_backup", "region"): _set("database.cross_region_backup.region", "ap-southeast-1"),
    ("database", "cross_region_backup", "retention_days"): _set("database.cross_region_backup.retention_days", 14),
    ("cache", "engine_version"): _set("cache.engine_version", "7.0"),
    ("cache", "cluster_mode"): _set("cache.cluster_mode", False),
    ("network", "vpc_cidr"): _all(_set("network.vpc_cidr", "10.1.0.0/16"),
                                  _set("network.public_subnets", ["10.1.1.0/24", "10.1.2.0/24"]),
                                  _set("network.private_app_subnets", ["10.1.11.0/24", "10.1.12.0/24"]),
                                  _set("network.private_db_subnets", ["10.1.21.0/24", "10.1.22.0/24"])),
    ("network", "availability_zones"): _set("network.availability_zones", ["ap-northeast-2a", "ap-northeast-2b"]),
    ("network", "private_db_subnets"): _set("network.private_db_subnets", ["10.0.23.0/24", "10.0.24.0/24"]),
    ("services",): _remove_service("worker"),
    ("backend", "bucket"): _set("backend.bucket", "codemate-terraform-state-next"),
    ("backend", "region"): _set("backend.region", "ap-northeast-1"),
}


def _remove(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node.pop(last)
    return change


# Per field of the table that a spec can leave out (it, or a section holding it, is optional in
# the schema), a removal of it: what it reached is destroyed as surely as by a change.
REMOVALS: dict[tuple[str, ...], Callable[[dict[str, Any]], None]] = {
    ("database", "cross_region_backup", "region"): _remove("database.cross_region_backup"),
    ("database", "cross_region_backup", "retention_days"): _remove("database.cross_region_backup"),
}


def _removable(field: tuple[str, ...]) -> bool:
    """Whether the schema lets a spec leave `field` out: it or a section above it is optional."""
    node = resolve(spec_schema())
    for key in field:
        if key not in node.get("required", ()):
            return True
        node = resolve(node["properties"][key])
    return False


def test_every_field_of_the_table_has_a_change_here():
    assert set(CHANGES) == {rule.field for rule in REPLACING}


def test_every_field_of_the_table_a_spec_can_leave_out_has_a_removal_here():
    assert set(REMOVALS) == {rule.field for rule in REPLACING if rule.when != "key removed" and _removable(rule.field)}


def test_each_argument_the_table_says_forces_a_replacement_does_so_in_the_offline_provider():
    """The table's ForceNew arguments and the stand-in's are one fact in two notations: a field
    whose argument the stand-in would update in place could be changed in a lifecycle test with
    nothing replaced. And the message names what it forces."""
    for rule in REPLACING:
        for type_name, argument in rule.forces:
            assert argument in REPLACE_FORCING.get(type_name, ()), (rule.field, type_name, argument)
            assert argument in rule.argument, (rule.field, argument)


def _planned_variant(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, dict]:
    """The planned values of the variant's prod changed by `change`, with no state."""
    specs = tmp_path / name / "specs"
    shutil.copytree(VARIANT, specs)
    data = yaml.safe_load((specs / "prod.yaml").read_text())
    change(data)
    (specs / "prod.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    root = write_tree(pipeline.build(project_of(specs), ())[0], tmp_path / name / "out") / "environments" / "prod"
    result = run_terraform(root)
    assert [str(d) for d in result.errors] == []
    return result.planned_values


def _replaced_without_loss() -> set[tuple[str, str]]:
    """(type, name) of the modules' resources with create_before_destroy: the new one exists
    before the old one goes, so nothing is lost (parameter and security groups)."""
    found = set()
    for main in (GENERATED / "infrastructure" / "modules").rglob("main.tf"):
        for block in hcl2.loads(main.read_text()).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    if any(each.get("create_before_destroy") for each in body.get("lifecycle", [])):
                        found.add((kind.strip('"'), name.strip('"')))
    return found


def _named(address: str, resources: str) -> bool:
    """Whether a rule's text names a resource: its address without instance keys, or a
    `module.x.type.*` the address is under."""
    bare = re.sub(r"\[[^\]]*\]", "", address)
    return bare in resources or any(bare.startswith(prefix + ".") for prefix in re.findall(r"([\w.]+)\.\*", resources))


@pytest.mark.slow  # real Terraform
def test_every_resource_a_field_replaces_is_named_by_its_rule(tmp_path):
    """The table is checked, not trusted: each field's change is planned on the variant against
    its baseline, and every resource of a type the stand-in knows replace-forcing arguments of
    (REPLACE_FORCING) that the change replaces (a forcing argument's known value changes) or
    destroys (its address goes) must be named in the rule's text, unless it is created before it
    is destroyed. A rule of every resource (the region) names them all."""
    lossless = _replaced_without_loss()
    before = _planned_variant(tmp_path, "baseline", BASELINE)
    unnamed: dict[str, list[str]] = {}
    for field, change in CHANGES.items():
        rule = next(rule for rule in REPLACING if rule.field == field)
        if rule.resources.startswith("every resource"):
            continue
        after = _planned_variant(tmp_path, ".".join(field), _all(BASELINE, change))
        for address, old in before.items():
            if address.startswith("data.") or ".data." in address:
                continue
            *_, type_name, name = re.sub(r"\[[^\]]*\]", "", address).split(".")
            if type_name not in REPLACE_FORCING or (type_name, name) in lossless:
                continue
            new = after.get(address)
            if new is None or any(old.get(arg) != new.get(arg) for arg in REPLACE_FORCING[type_name]):
                if not _named(address, rule.resources):
                    unnamed.setdefault(".".join(field), []).append(address)
    assert unnamed == {}


def _variant(tmp_path: Path, *changes: Callable[[dict[str, Any]], None]) -> tuple[Path, Path]:
    specs, out = tmp_path / "variant", tmp_path / "out"  # tmp_path/specs is the cli fixture's project
    if not specs.exists():
        shutil.copytree(VARIANT, specs)
    data = yaml.safe_load((specs / "prod.yaml").read_text())
    for change in changes:
        change(data)
    (specs / "prod.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return specs, out


def _case_id(value: tuple[str, ...] | bool) -> str:
    return ".".join(value) if isinstance(value, tuple) else ("removed" if value else "changed")


@pytest.mark.parametrize(("field", "removed"),
                         [(field, False) for field in CHANGES] + [(field, True) for field in REMOVALS], ids=_case_id)
def test_a_replacing_change_is_named_and_refused_in_a_protected_environment(tmp_path, cli, field, removed):
    specs, out = _variant(tmp_path, BASELINE)
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 0, err
    before = tree_files(out)
    _variant(tmp_path, (REMOVALS if removed else CHANGES)[field])
    rule = next(rule for rule in REPLACING if rule.field == field)
    named = f"$.{'.'.join(field)}"

    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 2, err
    lines = [line for line in err.splitlines() if f": {named}" in line and " in prod destroys and recreates " in line]
    assert lines and all(rule.resources in line and rule.safe_way in line for line in lines), err
    gone = removed or rule.when == "key removed"
    assert all(line.split(" in prod destroys")[0].endswith(" removed") == gone for line in lines), lines
    assert lines[0].startswith("variant/"), lines[0]  # the file and line that set it (or its section)
    assert "--allow-replace" in err
    assert tree_files(out) == before

    code, _, err = cli("check", "--specs", specs, "--out", out)
    assert code == 1 and f": {named}" in err

    code, _, err = cli("render", "--allow-replace", "--specs", specs, "--out", out)
    assert code == 0 and f": {named}" in err
    assert cli("check", "--specs", specs, "--out", out)[0] == 0


def test_an_unprotected_environment_is_told_but_not_refused(tmp_path, cli):
    specs, out = _variant(tmp_path, BASELINE, _set("database.deletion_protection", False))
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    _variant(tmp_path, CHANGES[("database", "database_name")])
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 0
    assert "$.database.database_name: 'codemate' -> 'app' in prod destroys and recreates" in err


def test_changes_made_in_place_are_not_named(tmp_path, cli):
    specs, out = _variant(tmp_path, BASELINE)
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    _variant(tmp_path, _set("database.instance_class", "db.t4g.medium"),
             _set("database.read_replicas.instance_class", "db.t4g.medium"),
             _set("cache.node_type", "cache.t4g.medium"), _set("database.multi_az", True),
             _set("database.cross_region_backup.retention_days", 7))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert (code, "destroys and recreates" in err) == (0, False), err


def _deploy(service: str, strategy: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["services"][service]["deployment"] = {"strategy": strategy}
        if strategy == "rolling":  # no blue/green service left: no test listener
            data["load_balancer"].pop("test_listener_cidrs", None)
        else:
            data["load_balancer"]["test_listener_cidrs"] = ["203.0.113.0/24"]
    return change


@pytest.mark.parametrize("protected", [True, False], ids=["protected", "unprotected"])
def test_a_blue_green_port_change_is_refused_everywhere(tmp_path, cli, protected):
    """Its target groups and weighted rules are replaced, and the new rules send every request to
    the new, empty primary group until ECS's deployment has moved the traffic: an outage of the
    service's paths, in any environment."""
    specs, out = _variant(tmp_path, BASELINE, _set("database.deletion_protection", protected),
                          _deploy("backend", "blue_green"))
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    before = tree_files(out)
    _variant(tmp_path, _set("services.backend.port", 3002))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 2, err
    [line] = [line for line in err.splitlines() if "$.services.backend.port" in line]
    assert line.startswith("variant/prod.yaml:"), line  # where the port was set
    assert "3001 -> 3002 in prod destroys and recreates module.alb.aws_lb_target_group.this[\"backend\"]" in line
    assert "503s until" in line and "keep the port" in line and "--allow-replace" in line
    assert tree_files(out) == before
    assert cli("check", "--specs", specs, "--out", out)[0] == 1
    code, _, err = cli("render", "--allow-replace", "--specs", specs, "--out", out)
    assert code == 0 and "$.services.backend.port" in err


def test_a_port_change_with_a_rolling_deployment_on_both_sides_is_not_named(tmp_path, cli):
    specs, out = _variant(tmp_path, BASELINE, _set("database.deletion_protection", False),
                          _deploy("backend", "rolling"))
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    _variant(tmp_path, _set("services.backend.port", 3002))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert (code, "services.backend.port" in err) == (0, False), err


def test_switching_to_blue_green_with_a_new_port_is_refused(tmp_path, cli):
    specs, out = _variant(tmp_path, BASELINE, _set("database.deletion_protection", False),
                          _deploy("backend", "rolling"))
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    _variant(tmp_path, _set("services.backend.port", 3002), _deploy("backend", "blue_green"))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 2 and "$.services.backend.port: 3001 -> 3002" in err, err


# --- engine_version changes RDS refuses or defers (finding 8) ----------------------------------


def _engine_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if ": $.database.engine_version: " in line]


@pytest.mark.parametrize("protected", [True, False], ids=["protected", "unprotected"])
def test_a_major_upgrade_deferred_to_the_maintenance_window_is_refused_everywhere(tmp_path, cli, protected):
    """Deferred, the instance is still in the old family's parameter group when Terraform deletes
    it: RDS refuses, and every later apply fails the same way. Whatever the deletion protection."""
    specs, out = _variant(tmp_path, BASELINE, _set("database.deletion_protection", protected),
                          _set("database.engine_version", "16"))
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    before = tree_files(out)
    _variant(tmp_path, _set("database.engine_version", "17"))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 2, err
    [line] = _engine_lines(err)
    assert line.startswith("variant/prod.yaml:"), line  # where the version was set
    assert "'16' -> '17' in prod breaks the apply of module.rds.aws_db_instance.this and its read replicas" in line
    assert "set database.apply_immediately: true in the same change" in line and "--allow-replace" in err
    assert tree_files(out) == before
    assert cli("check", "--specs", specs, "--out", out)[0] == 1

    # The documented way: the upgrade applied at once.
    _variant(tmp_path, _set("database.apply_immediately", True))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert (code, _engine_lines(err)) == (0, []), err


def test_unset_apply_immediately_follows_teardown_for_a_major_upgrade(cli, specs, tmp_path):
    """The fixture's dev is disposable (its changes are made at once), staging protected."""
    out = tmp_path / "out"

    def version(major: str) -> None:
        for env in ("dev", "staging"):
            file = specs / f"{env}.yaml"
            data = yaml.safe_load(file.read_text())
            data["database"]["engine_version"] = major
            file.write_text(yaml.safe_dump(data, sort_keys=False))

    version("16")
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    version("17")
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 2
    assert [line.split(" breaks the apply")[0].rpartition(" in ")[2] for line in _engine_lines(err)] == ["staging"]


def test_an_engine_downgrade_is_refused_everywhere_even_at_once(tmp_path, cli):
    """RDS cannot downgrade an engine: the apply would fail. Going back is a restore."""
    specs, out = _variant(tmp_path, BASELINE, _set("database.deletion_protection", False),
                          _set("database.apply_immediately", True))
    assert cli("render", "--specs", specs, "--out", out)[0] == 0
    _variant(tmp_path, _set("database.engine_version", "16"))
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 2, err
    [line] = _engine_lines(err)
    assert "'17' -> '16' in prod is refused by RDS for module.rds.aws_db_instance.this" in line
    assert "restore a snapshot taken before the upgrade into a new instance" in line
    assert cli("check", "--specs", specs, "--out", out)[0] == 1
    # After such a restore, the lower version is rendered on purpose.
    code, _, err = cli("render", "--allow-replace", "--specs", specs, "--out", out)
    assert code == 0 and len(_engine_lines(err)) == 1


def test_read_replicas_take_their_engine_from_the_primary():
    """RDS upgrades in-region replicas with their primary and refuses a major upgrade of a
    PostgreSQL replica of its own; the provider leaves a replica's engine_version computed when
    it is not set. So the replica sets neither: the primary's upgrade is the replicas'."""
    main = hcl2.loads((GENERATED / "infrastructure" / "modules" / "database" / "rds" / "main.tf").read_text())
    [replica] = [body for block in main["resource"] for name, body in block.get('"aws_db_instance"', {}).items()
                 if name == '"replica"']
    assert "replicate_source_db" in replica
    assert {"engine_version", "allow_major_version_upgrade"} & set(replica) == set()


# --- what a lost region leaves: secrets and images in the disaster-recovery region ------------


@pytest.mark.slow  # real Terraform
def test_secrets_and_images_are_replicated_to_the_disaster_recovery_region(tmp_path):
    """The variant's prod replicates its backups to ap-northeast-1 and owns the account's baseline:
    its secrets get replicas there (under a key of that region) and the registry replicates its
    repositories there, into repositories that expire what the originals expire."""
    root = rendered(tmp_path, database(cross_region_backup={"region": "ap-southeast-1", "retention_days": 7}))
    result = run_terraform(root)
    assert [str(d) for d in result.errors] == []
    plan = result.planned_values
    secrets = {a: v for a, v in plan.items() if a.startswith("module.secrets.aws_secretsmanager_secret.this[")}
    assert secrets and all([r["region"] for r in v["replica"]] == ["ap-southeast-1"] for v in secrets.values())
    assert plan["module.secrets.aws_kms_key.replica[0]"]["region"] == "ap-southeast-1"
    [rule] = plan["module.ecr.aws_ecr_replication_configuration.this[0]"]["replication_configuration"][0]["rule"]
    assert [d["region"] for d in rule["destination"]] == ["ap-southeast-1"]
    repositories = {a: v for a, v in plan.items() if a.startswith("module.ecr.aws_ecr_repository.this[")}
    assert sorted(f["filter"] for f in rule["repository_filter"]) == sorted(v["name"] for v in repositories.values())
    template = plan["module.ecr.aws_ecr_repository_creation_template.replica[0]"]
    assert (template["region"], template["applied_for"]) == ("ap-southeast-1", ["REPLICATION"])
    policies = {v["policy"] for a, v in plan.items() if a.startswith("module.ecr.aws_ecr_lifecycle_policy.this[")}
    assert policies == {template["lifecycle_policy"]}
    # The user files: a versioned replica there, every new version and delete marker replicated
    # into it, after versioning is on at both ends (S3 refuses the configuration before).
    replica = plan["module.s3.aws_s3_bucket.files_replica[0]"]
    files = plan["module.s3.aws_s3_bucket.files"]
    assert (replica["region"], replica["bucket"]) == ("ap-southeast-1", f"{files['bucket']}-ap-southeast-1")
    [versioning] = plan["module.s3.aws_s3_bucket_versioning.files_replica[0]"]["versioning_configuration"]
    assert (versioning["status"], plan["module.s3.aws_s3_bucket_versioning.files_replica[0]"]["region"]) == (
        "Enabled", "ap-southeast-1")
    [rule] = plan["module.s3.aws_s3_bucket_replication_configuration.files[0]"]["rule"]
    assert (rule["status"], rule["delete_marker_replication"]) == ("Enabled", [{"status": "Enabled"}])
    graph = terraform_graph(root)
    for versioning in ("files", "files_replica"):
        assert depends_on(graph, "module.s3.aws_s3_bucket_replication_configuration.files",
                          f"module.s3.aws_s3_bucket_versioning.{versioning}"), versioning


@pytest.mark.slow  # real Terraform
def test_without_a_disaster_recovery_region_nothing_is_replicated(tmp_path):
    result = run_terraform(rendered(tmp_path, lambda data: data["database"].pop("cross_region_backup")))
    assert [str(d) for d in result.errors] == []
    plan = result.planned_values
    assert not [a for a in plan if a.startswith((
        "module.secrets.aws_kms_key.replica", "module.ecr.aws_ecr_replication",
        "module.ecr.aws_ecr_repository_creation", "module.s3.aws_s3_bucket.files_",
        "module.s3.aws_s3_bucket_replication", "module.s3.aws_iam_role"))]
    assert all(v["replica"] == [] for a, v in plan.items() if ".aws_secretsmanager_secret." in a)


# --- restores (findings 2 and 3): the runbook's steps, replayed on the state, in the README's order ---

# Arguments of aws_db_instance the provider marks ForceNew that an imported instance could hold
# differently from the configuration (hashicorp/aws internal/service/rds/instance.go).
INSTANCE_FORCE_NEW = ("kms_key_id", "db_name", "username", "storage_encrypted", "engine")
BACKUPS_REPLICATION = "module.rds.aws_db_instance_automated_backups_replication.this[0]"
KEY = "module.rds.aws_kms_key.this"
BACKUP_KEY = "module.rds.aws_kms_key.backup_replica[0]"

# What the runbook does, as far as the state and the restored instance are concerned.
_RUNBOOK = re.compile(
    r'(?P<secret>--manage-master-user-password)'
    r'|(?P<swap>--new-db-instance-identifier "\$id-damaged")'
    r'|(?P<multi_az>"\$\(described MultiAZ \| sed [^\n]*--multi-az[^\n]*\)")'
    r'|terraform -chdir="\$tf" state rm (?P<rm>[^\n]+)'
    r'|terraform -chdir="\$tf" import (?P<import>\S+) '
    r'|(?P<apply>scripts/plan\.sh "\$ENV" && scripts/apply\.sh "\$ENV")')


def _readme_section(tree: Path, start: str, end: str) -> str:
    text = (tree / "README.md").read_text()
    return text[text.index(start):text.index(end)]


def in_region_runbook(tree: Path) -> str:
    return _readme_section(tree, "**Restore the database in its region**", "**Restore in the second region**")


def second_region_runbook(tree: Path) -> str:
    return _readme_section(tree, "**Restore in the second region**", "6. Move the application's host")


def cut_over_runbook(tree: Path) -> str:
    """The second region's last step: the application's host moves to the new environment."""
    return _readme_section(tree, "6. Move the application's host", "## Regenerating")


def runbook(text: str) -> list[tuple[str, Any]]:
    """The runbook's steps in `text` that change the state or the restored instance, in order."""
    found = []
    for match in _RUNBOOK.finditer(text):
        kind = match.lastgroup
        value = match.group(kind)
        found.append((kind, [a.strip("'") for a in value.split()] if kind == "rm" else value))
    return found


def second_region_steps(tree: Path) -> list[tuple[str, Any]]:
    """The second-region restore's steps, with the in-region steps it sends the reader to run
    ("steps 2 to 4 above") in their place."""
    section = second_region_runbook(tree)
    reference = re.search(r"steps (\d+) (?:to|and) (\d+)\s+above", section)
    assert reference, section
    first, last = int(reference.group(1)), int(reference.group(2))
    numbered = re.split(r"^(\d+)\. ", in_region_runbook(tree), flags=re.MULTILINE)
    steps = {int(n): body for n, body in zip(numbered[1::2], numbered[2::2], strict=True)}
    referenced = "".join(steps[n] for n in range(first, last + 1))
    return runbook(section[:reference.start()]) + runbook(referenced) + runbook(section[reference.end():])


def _address(resource: dict) -> str:
    return ".".join(filter(None, (resource.get("module"), resource["type"], resource["name"])))


def _addresses(state: dict) -> dict[str, dict]:
    found = {}
    for resource in state["resources"]:
        if resource["mode"] != "managed":
            continue
        for instance in resource["instances"]:
            found[_instance_address(resource, instance)] = instance["attributes"]
    return found


def _state_before_first_apply(state_text: str, steps: list[tuple[str, Any]], *,
                              key: dict | None = None) -> tuple[str, list[str]]:
    """The state when the runbook first plans, after its earlier steps, and those steps' kinds.

    What AWS does in between is modelled as AWS documents it: the renames leave the old replicas
    following the damaged instance; an instance restored from backups has no RDS-managed master
    user secret until `modify-db-instance --manage-master-user-password`, is single-AZ unless the
    restore asks for Multi-AZ, and has Performance Insights off. `terraform import` reads a new
    resource (new resource ID, the key it was restored with, nothing of what only the
    configuration sets, `manage_master_user_password` included: the provider does not read it).
    `key` is the replicated backups' key the instance is restored with (the second region), which
    `terraform import` of module.rds.aws_kms_key.this then reads."""
    state = json.loads(state_text)
    seen: list[str] = []
    removed: dict[str, dict] = {}
    secret = multi_az = False
    for kind, value in steps:
        if kind == "apply":
            break
        seen.append(kind)
        if kind == "secret":
            secret = True
        elif kind == "multi_az":
            multi_az = True
        elif kind == "swap":
            for resource in state["resources"]:
                if _address(resource) == "module.rds.aws_db_instance.replica":
                    for instance in resource["instances"]:
                        instance["attributes"]["replicate_source_db"] += "-damaged"
        elif kind == "rm":
            for resource in [r for r in state["resources"] if _address(r) in value]:
                state["resources"].remove(resource)
                removed[_address(resource)] = resource
        elif kind == "import":
            assert value not in {_address(r) for r in state["resources"]}, f"{value} is imported while still managed"
            resource = json.loads(json.dumps(removed[value]))
            attributes = resource["instances"][0]["attributes"]
            if value == INSTANCE:
                restored = key["arn"] if key else attributes["kms_key_id"]
                attributes.update(
                    id="db-RESTOREDINSTANCE0000000000", resource_id="db-RESTOREDINSTANCE0000000000",
                    kms_key_id=restored, multi_az=attributes["multi_az"] and multi_az,
                    performance_insights_enabled=False, performance_insights_kms_key_id=None,
                    manage_master_user_password=None, final_snapshot_identifier=None, apply_immediately=None,
                    allow_major_version_upgrade=None, latest_restorable_time="2026-12-05T03:00:00Z",
                    master_user_secret=[{
                        "kms_key_id": attributes["master_user_secret"][0]["kms_key_id"],
                        "secret_arn": re.sub(r"rds!db-[^:]*$", "rds!db-restored-a1b2c3",
                                             attributes["master_user_secret"][0]["secret_arn"]),
                        "secret_status": "active"}] if secret else [])
            elif value == KEY:
                assert key is not None, "only the second-region restore imports a key"
                # What `terraform import` reads: AWS's view of the key, not the deletion window.
                resource["instances"][0]["attributes"] = {**key, "deletion_window_in_days": None}
            else:
                raise AssertionError(f"the runbook imports {value}, which this replay does not model")
            state["resources"].append(resource)
    else:
        raise AssertionError("the runbook never plans and applies")
    state["serial"] += 1
    return json.dumps(state), seen


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    """The variant (a read replica, backups replicated to a second region) applied in an account."""
    tmp_path = tmp_path_factory.mktemp("restore")
    prod = rendered(tmp_path, database(deletion_protection=True))
    account = Account()
    result = run_terraform(prod, apply=True, account=account)
    assert [str(d) for d in result.errors] == []
    return prod, account, account.states[str(prod.resolve())], result.resource(INSTANCE)


def _plan_with(restored, state_text: str):
    prod, account, state, _ = restored
    account.states[str(prod.resolve())] = state_text
    try:
        return run_terraform(prod, account=account)
    finally:
        account.states[str(prod.resolve())] = state


def _plan_after(restored):
    """The plan the in-region runbook's first `plan.sh` makes, and the state it starts from."""
    prod, _, state, _ = restored
    state_text, _ = _state_before_first_apply(state, runbook(in_region_runbook(prod.parent.parent)))
    plan = _plan_with(restored, state_text)
    assert [str(d) for d in plan.errors] == []
    return plan, _addresses(json.loads(state_text))[INSTANCE]


def _replaced(plan) -> dict[str, list[str]]:
    """What the plan deletes, but task definitions (revisions, no data: the database setup task's
    takes the restored instance's new master user secret)."""
    return {a: act for a, act in plan.planned_actions.items()
            if "delete" in act and ".aws_ecs_task_definition." not in a}


@pytest.mark.slow  # real Terraform
def test_an_in_region_restore_recreates_the_replicas_and_the_backups_replication_against_the_restored_instance(
        restored):
    before = restored[3]
    plan, imported = _plan_after(restored)
    created = sorted(a for a, act in plan.planned_actions.items() if act == ["create"])
    assert (_replaced(plan), created) == ({}, sorted([BACKUPS_REPLICATION, REPLICA]))
    assert plan.planned_actions[INSTANCE] == ["update"]  # what only the configuration sets
    instance = plan.planned_values[INSTANCE]
    assert plan.planned_values[REPLICA]["replicate_source_db"] == before["identifier"]
    # The backups replicated to the second region are the restored instance's (the damaged one's
    # replication left the state with it).
    assert plan.planned_values[BACKUPS_REPLICATION]["source_db_instance_arn"] == instance["arn"]
    for argument in INSTANCE_FORCE_NEW:
        assert instance[argument] == before[argument], argument
    # Restored Multi-AZ where the damaged one was: the update need not wait for the maintenance window.
    assert imported["multi_az"] == before["multi_az"] is True
    setup = [v for a, v in plan.planned_values.items()
             if a.startswith("module.database_setup.") and a.endswith("aws_ecs_task_definition.this")]
    assert setup and "rds!db-restored-a1b2c3" in setup[0]["container_definitions"]


@pytest.mark.slow  # real Terraform
def test_an_instance_without_its_managed_secret_is_named_with_the_fix(restored):
    """Imported before RDS manages its master password (as a restored instance is), the
    instance makes the plan fail with the command that turns the secret on, not `Invalid index`."""
    prod, _, state, _ = restored
    steps = [step for step in runbook(in_region_runbook(prod.parent.parent)) if step[0] != "secret"]
    state_text, _ = _state_before_first_apply(state, steps)
    plan = _plan_with(restored, state_text)
    assert len(plan.errors) == 1, [str(d) for d in plan.errors]
    message = str(plan.errors[0])
    assert "no RDS-managed master user secret" in message and "--manage-master-user-password" in message


@pytest.mark.slow  # real Terraform
def test_a_restore_with_another_key_keeps_it(restored):
    """In the second region the instance is restored with the replicated backups' key; the
    module's own key must not replace it."""
    key = "arn:aws:kms:ap-northeast-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    prod, _, state, before = restored
    state_text, _ = _state_before_first_apply(state, runbook(in_region_runbook(prod.parent.parent)), key={"arn": key})
    plan = _plan_with(restored, state_text)
    assert [str(d) for d in plan.errors] == []
    assert _replaced(plan) == {}
    assert plan.planned_values[INSTANCE]["kms_key_id"] == key
    for argument in INSTANCE_FORCE_NEW:
        if argument != "kms_key_id":
            assert plan.planned_values[INSTANCE][argument] == before[argument], argument


# --- a restore in the second region: the replicated backups' key changes hands ---------------


def lost_state_removals(tree: Path) -> list[str]:
    """What the generated README's second-region restore removes from the lost environment's
    state by name (once its region is back)."""
    lost = re.search(r'terraform -chdir="environments/\$lost" state rm ((?:[^\n]*\\\n)*[^\n]*)\n',
                     cut_over_runbook(tree))
    assert lost, cut_over_runbook(tree)
    return [a.strip("'") for a in lost.group(1).replace("\\", " ").split()]


def _instance_address(resource: dict, instance: dict) -> str:
    """The instance's address as `terraform state list` prints it."""
    index = instance.get("index_key")
    return _address(resource) + ("" if index is None else f"[{json.dumps(index)}]")


@pytest.mark.slow  # real Terraform
def test_a_restore_in_the_second_region_takes_the_replicated_key_over(restored, tmp_path):
    """The new environment in the second region restores the replicated backups with the lost
    environment's replica key. The runbook, in the order the README prints it (the in-region
    steps it refers to in their place), hands the restored instance and that key to the new
    environment's Terraform before anything is planned: the first plan replaces nothing that
    holds data, manages the key and puts storage and Performance Insights on it. The lost state
    holds the addresses the runbook removes from it."""
    lost_root, _, lost_state, _ = restored
    tree = lost_root.parent.parent
    lost = _addresses(json.loads(lost_state))
    lost_removed = lost_state_removals(tree)
    assert lost_removed == [BACKUP_KEY, "module.rds.aws_kms_alias.backup_replica[0]"]
    assert set(lost_removed) <= set(lost)  # the lost state holds them: `state rm` finds them
    replica_key = lost[BACKUP_KEY]
    region = replica_key["region"]

    # The new environment: the spec copied into the second region, without a DR region of its own.
    new_root = rendered(tmp_path, _all(_set("region", region),
                                       _set("network.availability_zones", [f"{region}a", f"{region}c"]),
                                       lambda data: data["database"].pop("cross_region_backup")))
    account = Account()
    assert [str(d) for d in run_terraform(new_root, apply=True, account=account).errors] == []
    path = str(new_root.resolve())
    # (The new environment has no second-region section: the commands are the lost tree's README's.)
    state_text, seen = _state_before_first_apply(account.states[path], second_region_steps(tree), key=replica_key)
    assert [kind for kind in seen if kind == "import"] == ["import", "import"]  # the instance and the key
    account.states[path] = state_text
    plan = run_terraform(new_root, account=account)
    assert [str(d) for d in plan.errors] == []
    # The restored instance is a new incarnation: the stamp in its final snapshot's name follows
    # the key and is renewed (a terraform_data, no AWS object); nothing that holds data is replaced.
    assert {a for a in _replaced(plan) if ".terraform_data." not in a} == set()
    assert plan.planned_actions[KEY] in (["update"], ["no-op"])
    key = plan.planned_values[KEY]
    assert (key["arn"], key["region"]) == (replica_key["arn"], region)
    instance = plan.planned_values[INSTANCE]
    assert instance["kms_key_id"] == instance["performance_insights_kms_key_id"] == replica_key["arn"]
    assert instance["performance_insights_enabled"] is True


def _commands(text: str) -> list[str]:
    """The shell commands of the runbook text, continuation lines joined, in order."""
    return [" ".join(line.split()) for block in bash_blocks(text) for line in block.replace("\\\n", " ").splitlines()]


def _deleting_damaged(commands: list[str]) -> list[int]:
    return [i for i, c in enumerate(commands) if "delete-db-instance" in c and '"$id-damaged"' in c]


def test_the_runbooks_delete_the_damaged_instance_with_the_commands_to_do_it(tmp_path):
    """Both restores end with an instance renamed `$id-damaged`: the runbooks give the commands that
    delete it (its deletion protection off first). In its region it is deleted after the apply and
    keeps a final snapshot and its automated backups (what it held before the damage); in the
    second region it is the new environment's empty instance, deleted before its key is
    scheduled for deletion (an instance whose key goes becomes inaccessible, not deleted)."""
    tree = rendered(tmp_path, lambda data: None).parent.parent
    in_region = _commands(in_region_runbook(tree))
    [delete] = _deleting_damaged(in_region)
    assert delete > next(i for i, c in enumerate(in_region) if c.startswith("scripts/plan.sh"))
    assert "--final-db-snapshot-identifier" in in_region[delete]
    assert "--no-delete-automated-backups" in in_region[delete]
    unprotect = next(i for i, c in enumerate(in_region) if "--no-deletion-protection" in c)
    assert '"$id-damaged"' in in_region[unprotect] and unprotect < delete

    second = _commands(second_region_runbook(tree))
    [delete] = _deleting_damaged(second)
    assert "--skip-final-snapshot" in second[delete]
    deleted = next(i for i, c in enumerate(second) if "wait db-instance-deleted" in c and '"$id-damaged"' in c)
    key_deletion = next(i for i, c in enumerate(second) if "schedule-key-deletion" in c)
    assert delete < deleted < key_deletion


def _run_with(home: Path, tools: dict[str, str], script: str) -> subprocess.CompletedProcess:
    """`script` run by bash in `home`, under set -euo pipefail, with `tools` (name -> script text,
    PYTHON standing for this interpreter) first on PATH and FAKE_DIR naming `home`."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    for name, text in tools.items():
        (home / "bin" / name).write_text(text.replace("PYTHON", sys.executable))
        (home / "bin" / name).chmod(0o755)
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n{script}"], cwd=home, capture_output=True, text=True,
                          env={**os.environ, "FAKE_DIR": str(home), "PATH": f"{home / 'bin'}:{os.environ['PATH']}"})


FAKE_CLI = """#!PYTHON
# aws and terraform as the second-region runbook's step 3 calls them, over the files in FAKE_DIR.
import json, os, pathlib, sys
tool, args, home = pathlib.Path(sys.argv[0]).name, sys.argv[1:], pathlib.Path(os.environ["FAKE_DIR"])
def option(name):
    return args[args.index(name) + 1]
if tool == "terraform" and "secret_arns" in args:
    print(json.dumps({name: f"arn:new:{name}" for name in json.loads((home / "values.json").read_text())}))
elif args[:2] == ["secretsmanager", "get-secret-value"]:
    value = json.loads((home / "values.json").read_text())[option("--secret-id").rsplit(":", 1)[1]]
    print(json.dumps(value) if option("--output") == "json" else value)  # as the CLI prints it
elif args[:2] == ["secretsmanager", "put-secret-value"]:
    assert option("--secret-string") == "file:///dev/stdin"
    (home / ("put-" + option("--secret-id").rsplit(":", 1)[1])).write_bytes(sys.stdin.buffer.read())
"""


def test_the_second_region_copies_the_secret_values_byte_for_byte(tmp_path):
    """Step 3 copies each secret's value from its replica into the new environment's secret: run
    with stand-in aws and terraform commands, what is put is the value, not a byte more."""
    assert shutil.which("jq"), "jq is needed to run the runbook's commands"
    tree = rendered(tmp_path, lambda data: None).parent.parent
    [block] = [b for b in bash_blocks(second_region_runbook(tree)) if "get-secret-value" in b]
    loop = block[block.index("jq -r '.outputs.secret_arns"):block.index("done\n") + len("done\n")]
    values = {"session": "s3cr3t with \"quotes\" and a \\ backslash",
              "database": json.dumps({"username": "app", "password": "p@ss"})}
    home = tmp_path / "fake"
    home.mkdir()
    (home / "values.json").write_text(json.dumps(values))
    (home / "lost.tfstate").write_text(json.dumps(
        {"outputs": {"secret_arns": {"value": {name: f"arn:aws:secretsmanager:ap-northeast-2:1:secret:{name}"
                                                for name in values}}}}))
    done = _run_with(home, {"aws": FAKE_CLI, "terraform": FAKE_CLI},
                     f"dr_region=ap-northeast-1 tf=environments/new\n{loop}")
    assert done.returncode == 0, done.stderr
    assert {name: (home / f"put-{name}").read_bytes().decode() for name in values} == values


RDS_RENAMES = """#!PYTHON
# aws rds as the names swap meets it: a renamed instance answers to its new name only once the
# rename is done (here: at the second describe-db-instances of that name), and the
# db-instance-available waiter fails on a name it cannot find, as botocore's does.
import json, os, pathlib, sys
state_file = pathlib.Path(os.environ["FAKE_DIR"]) / "rds.json"
state = json.loads(state_file.read_text())
args = sys.argv[1:]
def option(name):
    return args[args.index(name) + 1]
name = option("--db-instance-identifier")
state["calls"].append(" ".join(args[:2] + [name]))
if args[:2] == ["rds", "modify-db-instance"]:
    assert name in state["named"], name
    state["renaming"][option("--new-db-instance-identifier")] = [name, 2]
elif args[:2] == ["rds", "describe-db-instances"]:
    if name in state["renaming"]:
        old, left = state["renaming"][name]
        if left > 1:
            state["renaming"][name] = [old, left - 1]
        else:
            del state["renaming"][name]
            state["named"] = [n for n in state["named"] if n != old] + [name]
    if name not in state["named"]:
        state_file.write_text(json.dumps(state))
        sys.exit("An error occurred (DBInstanceNotFound) when calling the DescribeDBInstances operation")
elif args[:2] == ["rds", "wait"] and name not in state["named"]:
    state_file.write_text(json.dumps(state))
    sys.exit("Waiter DBInstanceAvailable failed: An error occurred (DBInstanceNotFound): DBInstance not found")
state_file.write_text(json.dumps(state))
"""


def test_the_names_swap_waits_for_each_rename_to_take_effect(tmp_path):
    """A rename takes effect after modify-db-instance returns: the swap waits until the new name
    answers before it waits for the instance, and renames the restored one only then."""
    tree = rendered(tmp_path, lambda data: None).parent.parent
    [block] = [b for b in bash_blocks(in_region_runbook(tree)) if '--new-db-instance-identifier "$id-damaged"' in b]
    home = tmp_path / "fake"
    home.mkdir()
    (home / "rds.json").write_text(json.dumps({"named": ["db", "db-restored"], "renaming": {}, "calls": []}))
    done = _run_with(home, {"aws": RDS_RENAMES, "sleep": "#!/bin/sh\n"}, f"region=ap-northeast-2 id=db\n{block}")
    assert done.returncode == 0, done.stderr
    state = json.loads((home / "rds.json").read_text())
    assert sorted(state["named"]) == ["db", "db-damaged"]
    calls = state["calls"]
    assert calls.index("rds modify-db-instance db-restored") > calls.index("rds wait db-damaged")


# --- the second region's cut-over: the application's host moves to the new environment -------

LOST_HOST = "codemate-lost"


def _merged(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` merged onto `base` as `extends` merges (maps merge, lists replace)."""
    out = dict(base)
    for key, value in top.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _second_region_specs(specs: Path, region: str, host: str) -> None:
    """Beside the variant's prod, a new environment `tokyo` as the runbook's step 2 writes it:
    prod's spec in `region`, with a host and deploy branch of its own, without the account's
    baseline (prod keeps it) and without a disaster-recovery region."""
    prod = _merged(yaml.safe_load((specs / "_prod.yaml").read_text()),
                   yaml.safe_load((specs / "prod.yaml").read_text()))
    prod.pop("extends")
    prod["account"].pop("baseline")
    prod["database"].pop("cross_region_backup")
    new = _all(_set("region", region), _set("network.availability_zones", [f"{region}a", f"{region}c"]),
               _set("dns.hostname", host), _set("storage.cors_allowed_origins", [f"https://{host}.code1398.io"]),
               _set("cicd.branch", "tokyo"))
    new(prod)
    (specs / "tokyo.yaml").write_text(yaml.safe_dump({"extends": "_common.yaml", **prod}, sort_keys=False))


def _hosts(specs: Path, lost: str, new: str) -> Path:
    """The specs with these hosts for prod and tokyo, rendered: the tree."""
    for name, host in (("prod", lost), ("tokyo", new)):
        data = yaml.safe_load((specs / f"{name}.yaml").read_text())
        data.setdefault("dns", {})["hostname"] = host
        data.setdefault("storage", {})["cors_allowed_origins"] = [f"https://{host}.code1398.io"]
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return write_tree(pipeline.build(project_of(specs), ())[0], specs.parent / "out")


def _forget(account: Account, root: Path, dropped) -> dict[str, dict]:
    """`terraform state rm` of the addresses `dropped` (a set, or a predicate) from root's state in
    the account; returns the resources removed, by type and name (what an import elsewhere reads)."""
    path = str(root.resolve())
    state = json.loads(account.states[path])
    gone = dropped if callable(dropped) else dropped.__contains__
    removed = {}
    for resource in state["resources"]:
        kept = [i for i in resource["instances"] if not gone(_instance_address(resource, i))]
        if len(kept) < len(resource["instances"]):
            removed[_address(resource)] = copy.deepcopy({**resource, "instances": [
                i for i in resource["instances"] if gone(_instance_address(resource, i))]})
        resource["instances"] = kept
    state["resources"] = [r for r in state["resources"] if r["instances"]]
    state["serial"] += 1
    account.states[path] = json.dumps(state)
    return removed


def _adopt(account: Account, root: Path, resources: dict[str, dict]) -> None:
    """`terraform import` into root's state of objects another state let go of (it reads them as they are)."""
    path = str(root.resolve())
    state = json.loads(account.states[path])
    state["resources"].extend(resources.values())
    state["serial"] += 1
    account.states[path] = json.dumps(state)


@pytest.mark.slow  # real Terraform
def test_the_second_region_runbook_moves_the_host_and_retires_the_lost_environment(tmp_path):
    """The lost environment (the variant's prod, behind CloudFront) and the new one in the second
    region share the account, the hosted zone and CloudFront's one namespace of alternate domain
    names. Steps 2 to 5 hand the restored instance and the replicated backups' key to the new
    environment. The runbook's step 6 frees what the lost environment holds of the host, then the
    new environment's apply takes the host over (address records, CloudFront alias, the
    certificate's validation record, which ACM makes the same for every certificate of the host).
    Once the lost region is back (step 7), the lost state lets go of the key and the records and
    the key's alias is deleted, so that the lost environment's next run (under another host)
    changes none of those the new environment now holds and meets none of their names; its
    teardown, as "Tearing down" writes it for it, then destroys it, and the key that encrypts the
    restored instance is not scheduled for deletion."""
    account = Account()
    lost_root = rendered(tmp_path, lambda data: None)
    specs = tmp_path / "specs"
    host = yaml.safe_load((specs / "_prod.yaml").read_text())["dns"]["hostname"]
    assert [str(d) for d in run_terraform(lost_root, apply=True, account=account).errors] == []
    lost_state = _addresses(json.loads(account.states[str(lost_root.resolve())]))
    replica_key = lost_state[BACKUP_KEY]
    region = replica_key["region"]
    # A user's file, and its copy in the second region that replication writes.
    for bucket in ("module.s3.aws_s3_bucket.files", "module.s3.aws_s3_bucket.files_replica[0]"):
        account.put_object(lost_state[bucket]["bucket"], "uploads/avatar.png")

    # Step 2: the new environment, under a host of its own, beside the lost one in the account;
    # steps 3 to 5 hand it the restored instance and the key.
    _second_region_specs(specs, region, "codemate-tokyo")
    tree = _hosts(specs, host, "codemate-tokyo")
    new_root = tree / "environments" / "tokyo"
    assert [str(d) for d in run_terraform(new_root, apply=True, account=account).errors] == []
    new_path = str(new_root.resolve())
    steps = second_region_steps(tree)
    # The read replicas the in-region step 2 deletes (RDS cannot move them to the restored instance).
    assert "aws rds delete-db-instance" in in_region_runbook(tree).split("2. **Read replicas**")[1].split("\n3. ")[0]
    for address, values in _addresses(json.loads(account.states[new_path])).items():
        if address.startswith("module.rds.aws_db_instance.replica["):
            account.delete_db_instance(values["identifier"])
    account.states[new_path] = _state_before_first_apply(account.states[new_path], steps, key=replica_key)[0]
    assert [str(d) for d in run_terraform(new_root, apply=True, account=account).errors] == []

    # Step 6: the specs swap the host; the lost environment's alias and address records are freed as
    # the generated commands free them.
    tree = _hosts(specs, LOST_HOST, host)
    section = cut_over_runbook(tree)
    step = section[:section.index("7. Once the lost region is back")]
    assert "jq '.DistributionConfig | .Aliases = {Quantity: 0}'" in step
    assert "aws cloudfront update-distribution" in step
    distribution = lost_state["module.cloudfront.aws_cloudfront_distribution.this"]["id"]
    account.update_distribution_aliases(distribution, [])
    types = re.findall(r"Type == '(\w+)'", step)
    assert '{Action: "DELETE", ResourceRecordSet: .}' in step and "change-resource-record-sets" in step
    records = [v for v in lost_state.values() if v.get("type") in types and "alias" in v and v["alias"]]
    assert {(r["name"].rstrip("."), r["type"]) for r in records} == {(f"{host}.code1398.io", t) for t in types}
    for record in records:
        account.delete_record(record["zone_id"], record["name"], record["type"])
    assert re.search(r"scripts/plan.sh \"\$ENV\" && scripts/apply.sh \"\$ENV\"\n\s*```", step)
    moved = run_terraform(new_root, apply=True, account=account)
    assert [str(d) for d in moved.errors] == []
    fqdn = f"{host}.code1398.io"
    assert account.aliases(moved.resource("module.cloudfront.aws_cloudfront_distribution.this")["id"]) == [fqdn]
    assert account.aliases(distribution) == []
    # The pages upload to the files bucket from the host: its CORS origin moves with it.
    assert "`storage.cors_allowed_origins`" in step
    [rule] = moved.resource("module.s3.aws_s3_bucket_cors_configuration.files")["cors_rule"]
    assert rule["allowed_origins"] == [f"https://{fqdn}"]

    # Step 7, once the region is back: the lost state lets go of the key and of every record of the host.
    by_name = lost_state_removals(tree)
    pattern = re.search(
        r"state list \| grep -E '([^']+)' \|\n\s*xargs terraform -chdir=\"environments/\$lost\" state rm", section)
    assert pattern, section
    dropped = set(by_name) | {a for a in lost_state if re.search(pattern.group(1), a)}
    assert {a for a in lost_state if ".aws_route53_record." in a} <= dropped
    lost_root = tree / "environments" / "prod"  # rendered again under the other host

    def records_changed() -> set[str]:
        """The records of the lost state the lost environment's next run would change or delete."""
        plan = run_terraform(lost_root, account=account)
        assert [str(d) for d in plan.errors] == []
        return {a for a, act in plan.planned_actions.items()
                if ".aws_route53_record." in a and act not in (["no-op"], ["create"])}

    # Without it, the lost environment's next run moves the records the new one holds.
    assert records_changed() >= {'module.cloudfront.aws_route53_record.app["A"]',
                                 'module.cloudfront.aws_route53_record.app["AAAA"]'}
    _forget(account, lost_root, dropped)
    assert records_changed() == set()
    # The key's alias is deleted as the step deletes it; the lost environment's next apply (its spec
    # still replicating backups there) creates a key and an alias of its own again.
    back = _commands(section[section.index("7. Once the lost region is back"):])
    [delete_alias] = [c for c in back if c.startswith("aws kms delete-alias")]
    alias = re.search(r'--alias-name "([^"]+)"', delete_alias)
    assert alias and '--region "$dr_region"' in delete_alias
    account.delete_kms_alias(alias[1].replace("$lost_id", lost_state[INSTANCE]["identifier"]))
    assert [str(d) for d in run_terraform(lost_root, apply=True, account=account).errors] == []

    # Its retirement: the teardown "Tearing down" writes for it, the baseline handed over first.
    readme = (tree / "README.md").read_text()
    assert '"Tearing down"' in section[section.index("7. Once the lost region is back"):]
    moves = owner_section(readme, "prod")
    teardown(specs, "prod")
    assert ("prod", "database.cross_region_backup") in make_edits(specs, moves)
    write_tree(pipeline.build(project_of(specs), ())[0], tmp_path / "out")
    for env in ("prod", "tokyo"):
        commands = [c for c in _commands(moves) if f"-chdir=environments/{env} " in c]
        if env == "prod":
            [forget] = [c for c in commands if " state rm " in c]
            handed = _forget(account, lost_root, set(a.strip("'") for a in forget.split(" state rm ")[1].split()))
        else:
            imported = [re.search(r" import '([^']+)'", c)[1] for c in commands if " import " in c]
            resources = {a.rsplit("[", 1)[0] for a in imported}
            assert imported and resources <= set(handed)  # what the owner's state let go of
            _adopt(account, new_root, {a: handed[a] for a in resources})
    for root in (new_root, lost_root):
        assert [str(d) for d in run_terraform(root, apply=True, account=account).errors] == [], root.name
    assert [str(d) for d in run_terraform(lost_root, destroy=True, account=account).errors] == []
    assert replica_key["arn"] not in account.keys_pending_deletion()
    after = run_terraform(new_root, account=account)
    assert [str(d) for d in after.errors] == []
    assert {a: act for a, act in after.planned_actions.items() if act != ["no-op"]} == {}
