"""The generated READMEs say what the Terraform next to them declares: each table is read back
and compared with the parsed .tf files, and the top-level README covers
every environment, module and script."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import hcl2
import pytest
from conftest import SPECS, TEMPLATES, project_of
from support import shellcheck_readme

from codemate_tfgen import pipeline
from codemate_tfgen.hcl import unquote
from codemate_tfgen.render.templates import modules
from codemate_tfgen.spec.load import environment_names, load_spec

ENVIRONMENTS = environment_names(SPECS)
MODULES = [str(module.path) for module in modules(TEMPLATES)]


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return pipeline.build(project_of(SPECS), ())[0]


def section(readme: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {title}' section"
    return match.group(1)


def table(readme: str, title: str) -> list[list[str]]:
    """The rows of a section's table, cells unescaped; [] when the section says "No ..."."""
    rows = [line for line in section(readme, title).splitlines() if line.startswith("|")]
    if not rows:
        assert re.search(r"^No \w+\.$", section(readme, title), re.MULTILINE), title
        return []
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    assert set("".join(cells[1])) <= set("-:"), "second row separates the header"
    return cells[2:]


def code(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


def blocks(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Top-level blocks of one kind by (unquoted) label; python-hcl2 keeps labels quoted."""
    return {label.strip('"'): body for entry in parsed.get(kind, []) for label, body in entry.items()}


def hcl_value(text: str) -> Any:
    return hcl2.loads(f"x = {text}\n")["x"]


def squeeze(expression: str) -> str:
    """A type expression without interpolation wrapper, whitespace and optional commas."""
    if expression.startswith("${") and expression.endswith("}"):
        expression = expression[2:-1]
    return re.sub(r"[\s,]", "", expression)


# --- module READMEs -------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_inputs_table_matches_variables_tf(files, module):
    """Read back with python-hcl2, independently of the reader that wrote the table."""
    base = f"infrastructure/modules/{module}"
    rows = table(files[f"{base}/README.md"], "Inputs")
    declared = blocks(hcl2.loads(files[f"{base}/variables.tf"]), "variable")
    assert [r[0] for r in rows] == list(declared)
    for name, description, type_, default, required in rows:
        body = declared[name]
        assert description == unquote(body["description"])
        assert squeeze(code(type_)) == squeeze(body["type"])
        assert required == ("no" if "default" in body else "yes")
        if "default" in body:
            assert hcl_value(code(default)) == body["default"]
        else:
            assert default == "n/a"


@pytest.mark.parametrize("module", MODULES)
def test_collection_inputs_with_empty_defaults_are_not_nullable(files, module):
    """A caller's null must not reach a for_each: {} and [] defaults come with nullable = false."""
    declared = blocks(hcl2.loads(files[f"infrastructure/modules/{module}/variables.tf"]), "variable")
    empty = [name for name, body in declared.items() if body.get("default") in ({}, [])]
    assert [name for name in empty if declared[name].get("nullable") is not False] == []


@pytest.mark.parametrize("module", MODULES)
def test_outputs_table_matches_outputs_tf(files, module):
    base = f"infrastructure/modules/{module}"
    rows = table(files[f"{base}/README.md"], "Outputs")
    declared = blocks(hcl2.loads(files[f"{base}/outputs.tf"]), "output")
    assert [r[0] for r in rows] == list(declared)
    assert {r[0]: r[1] for r in rows} == {name: unquote(body["description"]) for name, body in declared.items()}


@pytest.mark.parametrize("module", MODULES)
def test_resources_table_matches_main_tf(files, module):
    base = f"infrastructure/modules/{module}"
    parsed = hcl2.loads(files[f"{base}/main.tf"])
    wanted = {(f"{rtype.strip(chr(34))}.{name.strip(chr(34))}", kind)
              for key, kind in (("resource", "resource"), ("data", "data source"))
              for entry in parsed.get(key, []) for rtype, named in entry.items() for name in named}
    rows = table(files[f"{base}/README.md"], "Resources")
    listed = set()
    for name, kind in rows:
        match = re.fullmatch(r"\[([\w.]+)\]\((https://registry\.terraform\.io/providers/hashicorp/\w+/latest/"
                             r"docs/(?:resources|data-sources)/\w+)\)", name)
        assert match, name
        listed.add((match.group(1), kind))
    assert listed == wanted
    assert len(rows) == len(listed)


@pytest.mark.parametrize("module", MODULES)
def test_providers_table_matches_versions_tf(files, module):
    base = f"infrastructure/modules/{module}"
    aws = hcl2.loads(files[f"{base}/versions.tf"])["terraform"][0]["required_providers"][0]["aws"]
    aliases = [a.strip("${}") for a in aws.get("configuration_aliases", [])]
    assert table(files[f"{base}/README.md"], "Providers") == [
        [name, unquote(aws["version"])] for name in ["aws", *aliases]]


@pytest.mark.parametrize("module", MODULES)
def test_usage_passes_every_required_input(files, module):
    base = f"infrastructure/modules/{module}"
    usage = re.search(r"```hcl\n(.*?)```", section(files[f"{base}/README.md"], "Usage"), re.DOTALL)
    assert usage
    [(name, call)] = blocks(hcl2.loads(usage.group(1)), "module").items()
    source = unquote(call.pop("source"))
    assert PurePosixPath("infrastructure/environments/dev", source).as_posix().replace(
        "environments/dev/../../", "") == base
    call.pop("providers", None)
    call.pop("__is_block__", None)
    declared = blocks(hcl2.loads(files[f"{base}/variables.tf"]), "variable")
    assert set(call) == {v for v, body in declared.items() if "default" not in body}


# --- environment READMEs --------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_readme_lists_its_module_calls_and_variables(files, env):
    base = f"infrastructure/environments/{env}"
    readme = files[f"{base}/README.md"]
    calls = blocks(hcl2.loads(files[f"{base}/main.tf"]), "module")
    assert table(readme, "Modules") == sorted(
        [name, unquote(body["source"]), "n/a"] for name, body in calls.items())
    declared = blocks(hcl2.loads(files[f"{base}/variables.tf"]), "variable")
    assert [r[0] for r in table(readme, "Inputs")] == list(declared)
    assert [r[0] for r in table(readme, "Outputs")] == list(
        blocks(hcl2.loads(files[f"{base}/outputs.tf"]), "output"))


# --- infrastructure/README.md ---------------------------------------------------------------


def test_readme_lists_every_environment_with_its_values(files):
    readme = files["infrastructure/README.md"]
    header, *rows = [line for line in section(readme, "Environments").splitlines() if line.startswith("|")]
    assert [c.strip() for c in header.split("|")[2:-1]] == ENVIRONMENTS
    cells = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in rows[1:]}
    for i, env in enumerate(ENVIRONMENTS):
        data = load_spec(SPECS, env).data
        assert cells["URL"][i] == f"https://{data['dns']['hostname']}.{data['dns']['zone_name']}"
        assert cells["State"][i] == f"s3://{data['backend']['bucket']}/{env}/terraform.tfstate"
        assert cells["PostgreSQL"][i].startswith(data["database"]["instance_class"] + ",")
        assert cells["Redis"][i].startswith(data["cache"]["node_type"] + ",")
        assert cells["Pipeline"][i].startswith(f"{data['cicd']['repository']}@{data['cicd']['branch']}")
        host = f"{data['dns']['hostname']}.{data['dns']['zone_name']}"
        points_at = "CloudFront" if data["cdn"]["enabled"] else "the ALB"
        assert f"| {env} | {points_at} | `dig +short {host} && curl -fsS -o /dev/null -w '%{{http_code}}\\n' " \
               f"https://{host}/` |" in readme


def test_readme_state_keys_match_backend_tf(files):
    readme = files["infrastructure/README.md"]
    for env in ENVIRONMENTS:
        s3 = hcl2.loads(files[f"infrastructure/environments/{env}/backend.tf"])["terraform"][0]["backend"][0]
        config = s3['"s3"']
        assert f"s3://{unquote(config['bucket'])}/{unquote(config['key'])}" in readme


def test_readme_layout_lists_what_is_generated(files):
    layout = section(files["infrastructure/README.md"], "Layout")
    for path in files:
        parts = path.split("/")
        if parts[1] == "modules":
            assert f"── {parts[3]}/" in layout, path
        elif parts[1] == "scripts":
            assert f"── {parts[2]} " in layout, path
        elif parts[1] == "environments":
            assert f"── {parts[2]}/" in layout, path
            if parts[2] == ENVIRONMENTS[0]:
                assert f"── {parts[3]} " in layout, path
    for module in MODULES:
        assert f"[{module}](modules/{module}/README.md)" in layout
        assert f"infrastructure/modules/{module}/README.md" in files


def test_readme_uses_only_outputs_that_exist(files):
    readme = files["infrastructure/README.md"]
    used = set(re.findall(r"output -raw (\w+)", readme))
    assert used
    for env in ENVIRONMENTS:
        outputs = blocks(hcl2.loads(files[f"infrastructure/environments/{env}/outputs.tf"]), "output")
        assert used <= set(outputs), env


def test_readme_names_every_script_step(files):
    readme = files["infrastructure/README.md"]
    deploy = section(readme, 'Deploying ("배포 프로세스")')
    steps = [f"scripts/{name}" for name in ("init-backend.sh", "init.sh", "plan.sh", "apply.sh")]
    positions = [deploy.index(step) for step in steps]
    assert positions == sorted(positions), "scripts appear in the order of the deployment"
    for name in ("migrate-state.sh", "destroy.sh"):
        assert f"scripts/{name}" in readme
    assert "tfgen render" in section(readme, "Regenerating")


def test_readme_commands_pass_shellcheck(files, tmp_path):
    assert shellcheck_readme(files["infrastructure/README.md"], tmp_path) == (0, "")


@pytest.mark.parametrize("selection", [("dev",), ("prod", "staging")])
def test_shared_files_do_not_depend_on_the_selection(files, selection):
    """`tfgen render dev` must write the same scripts and README as `tfgen render`."""
    shared = {p for p in files if p == "infrastructure/README.md" or p.startswith("infrastructure/scripts/")}
    partial = pipeline.build(project_of(SPECS), selection)[0]
    assert {p: partial[p] for p in shared} == {p: files[p] for p in shared}
