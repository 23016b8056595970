"""The application path carries the design document's values into every environment.

The expected values are the document's ("컴퓨팅 리소스", "로드 밸런싱 및 라우팅", "ECR",
"Secrets Management", "DNS 설정"); the test reads them back from the generated HCL.
"""

from __future__ import annotations

import difflib
import re

import hcl2
import pytest
import yaml
from conftest import GENERATED, SPECS, project_of

from codemate_tfgen import hcl, pipeline

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

ENV_DIR = GENERATED / "infrastructure" / "environments"
MODULES = GENERATED / "infrastructure" / "modules"

SERVICES = {  # service: cpu, memory, port, health check path
    "frontend": (512, 1024, 3000, "/api/health"),
    "backend": (1024, 2048, 3001, "/health"),
}
COUNTS = {  # env: service: (desired, min, max)
    "dev": {"frontend": (1, 1, 2), "backend": (1, 1, 2)},
    "staging": {"frontend": (2, 2, 3), "backend": (2, 2, 3)},
    "prod": {"frontend": (2, 2, 5), "backend": (2, 2, 6)},
}
HOSTS = {"dev": "codemate-dev.code1398.io", "staging": "codemate-staging.code1398.io",
         "prod": "codemate.code1398.io"}


def tfvars(env: str) -> dict:
    return hcl2.loads((ENV_DIR / env / "terraform.tfvars").read_text())


def main_tf(env: str) -> dict:
    return hcl2.loads((ENV_DIR / env / "main.tf").read_text())


def module_call(env: str, name: str) -> dict:
    for entry in main_tf(env)["module"]:
        if f'"{name}"' in entry:
            return entry[f'"{name}"']
    raise AssertionError(f"no module {name} in {env}")


def evaluate(expr, variables: dict):
    """Resolve the simple expressions the environments use: literals and ${var.x} interpolation."""
    if not isinstance(expr, str):
        return expr
    if expr.startswith("${") and expr.endswith("}") and expr.count("${") == 1:
        path = expr[2:-1].split(".")
        assert path[0] == "var", expr
        value = variables[path[1]]
        for key in path[2:]:
            value = value[key]
        return evaluate(value, variables)
    if expr.startswith('"'):
        def substitute(match: re.Match) -> str:
            return str(evaluate("${" + match.group(1) + "}", variables))
        return re.sub(r"\$\{(var\.[\w.]+)\}", substitute, expr[1:-1])
    return expr


@pytest.mark.parametrize("env", sorted(COUNTS))
def test_services(env):
    services = tfvars(env)["services"]
    for name, (cpu, memory, port, path) in SERVICES.items():
        got = services[name]
        assert (got["cpu"], got["memory"], got["port"], hcl.unquote(got["health_check_path"])) == (
            cpu, memory, port, path)
        assert (got["desired_count"], got["min_count"], got["max_count"]) == COUNTS[env][name]
        assert got["cpu_target"] == 70
    assert services["backend"]["memory_target"] == 80
    assert "memory_target" not in services["frontend"]


@pytest.mark.parametrize("env", sorted(COUNTS))
def test_load_balancer(env):
    lb = tfvars(env)["load_balancer"]
    assert hcl.unquote(lb["ssl_policy"]) == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert (lb["idle_timeout"], lb["deregistration_delay"]) == (3600, 300)
    assert (lb["healthy_threshold"], lb["unhealthy_threshold"], lb["health_check_interval"]) == (2, 3, 30)
    assert lb["deletion_protection"] is (env == "prod")
    call = module_call(env, "alb")
    variables = tfvars(env)
    assert evaluate(call["name"], variables) == f"codemate-alb-{env}"
    rule = call["listener_rules"]["backend"]
    assert (hcl.unquote(rule["target_group"]), rule["priority"]) == ("backend", 100)
    assert [hcl.unquote(p) for p in rule["paths"]] == ["/api/*", "/socket.io/*"]
    assert call["target_groups"]["backend"]["stickiness"] is True
    assert hcl.unquote(call["default_target_group"]) == "frontend", "frontend is the default action"
    assert "stickiness" not in call["target_groups"]["frontend"]
    assert evaluate(call["target_groups"]["frontend"]["name"], variables) == f"codemate-frontend-tg-{env}"


def test_alb_module_settings():
    main = (MODULES / "networking" / "alb" / "main.tf").read_text()
    assert 'drop_invalid_header_fields = true' in main
    assert re.search(r'redirect \{\s+port\s+= "443"\s+protocol\s+= "HTTPS"\s+status_code = "HTTP_301"', main)
    assert 'target_type          = "ip"' in main


@pytest.mark.parametrize("env", sorted(COUNTS))
def test_ecr_and_secrets(env):
    variables = tfvars(env)
    ecr = module_call(env, "ecr")
    assert ecr["keep_images"] == 10
    # One repository per service, named <project>-<service>-<env>.
    assert ecr["repositories"] == (
        '${{for name in keys(var.services) : name => "${var.project}-${name}-${var.environment}"}}')
    assert {name: f"{hcl.unquote(variables['project'])}-{name}-{env}" for name in variables["services"]} == {
        "frontend": f"codemate-frontend-{env}", "backend": f"codemate-backend-{env}"}
    module = (MODULES / "compute" / "ecr" / "main.tf").read_text()
    assert "scan_on_push = true" in module
    assert '"IMMUTABLE_WITH_EXCLUSION" : "IMMUTABLE"' in module
    secrets = module_call(env, "secrets")
    prefix = evaluate(secrets["name_prefix"], variables)
    keys = [hcl.unquote(k) if k.startswith('"') else k for k in secrets["secrets"] if not k.startswith("__")]
    names = sorted(f"{prefix}/{key}" for key in keys)
    assert names == sorted(f"codemate/{env}/{n}" for n in ("database", "nextauth", "anthropic", "github-oauth"))


@pytest.mark.parametrize("env", sorted(COUNTS))
def test_host_names(env):
    variables = tfvars(env)
    assert f"{evaluate('${var.dns.hostname}', variables)}.{evaluate('${var.dns.zone_name}', variables)}" == HOSTS[env]


def test_secret_values_never_appear():
    """Credentials reach the containers as Secrets Manager references only."""
    main = (ENV_DIR / "prod" / "main.tf").read_text()
    for name in ("DATABASE_PASSWORD", "ANTHROPIC_API_KEY", "NEXTAUTH_SECRET", "GITHUB_CLIENT_SECRET"):
        for line in main.splitlines():
            if re.match(rf"\s*{name}\s*=", line):
                assert "module.secrets.secret_arns" in line, line


def test_spec_change_changes_only_its_lines(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    for path in SPECS.glob("*.yaml"):
        (specs / path.name).write_text(path.read_text())
    prod = yaml.safe_load((specs / "prod.yaml").read_text())
    assert prod["services"]["backend"]["max_count"] == 6
    text = (specs / "prod.yaml").read_text()
    (specs / "prod.yaml").write_text(text.replace("backend: {desired_count: 2, min_count: 2, max_count: 6}",
                                                  "backend: {desired_count: 2, min_count: 2, max_count: 8}"))
    before, _ = pipeline.build(project_of(SPECS), ())
    after, _ = pipeline.build(project_of(specs), ())
    changed = {path for path in before if before[path] != after[path]}
    assert "infrastructure/environments/prod/terraform.tfvars" in changed
    assert all(path.startswith("infrastructure/environments/prod/") or path.endswith("README.md")
               for path in changed), changed
    for path in changed:
        removed, added = [], []
        for line in difflib.unified_diff(before[path].splitlines(), after[path].splitlines(), n=0):
            if line.startswith(("+++", "---", "@@")):
                continue
            (removed if line[0] == "-" else added).append(line[1:])
        # Every changed line is the same line with the maximum raised from 6 to 8, nothing else.
        assert len(removed) == len(added) >= 1, path
        for old, new in zip(removed, added, strict=True):
            assert re.sub(r"\b6\b", "8", old) == new, (path, old, new)
    tfvars_diff = [line for line in difflib.unified_diff(
        before["infrastructure/environments/prod/terraform.tfvars"].splitlines(),
        after["infrastructure/environments/prod/terraform.tfvars"].splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert [re.sub(r"\s+", " ", line) for line in tfvars_diff] == ["- max_count = 6", "+ max_count = 8"]
