"""tfgen cost: the design document's cost tables from the real specs, and estimates that follow the spec.

The expected figures of the document tests are typed from the document ("예상 비용", "비용 최적화
전략"): they are the requirement. Every other expectation is computed here from the price book.
"""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SPECS, edit
from support import BOOK, HOURS, D, cents, estimate, lines, price

from codemate_tfgen.cost import model as cost
from codemate_tfgen.errors import SpecError
from codemate_tfgen.spec.valid import load_valid_specs

# --- the document's tables, line by line --------------------------------------------------------

DEV_TABLE = [
    ("ECS Fargate", "Frontend", "0.0344", "25.11"),
    ("ECS Fargate", "Backend", "0.0688", "50.22"),
    ("RDS PostgreSQL", "Instance", "0.020", "14.60"),
    ("RDS PostgreSQL", "Storage", None, "2.76"),
    ("ElastiCache Redis", "Nodes", "0.016", "11.68"),
    ("S3", "Storage", None, "0.25"),
    ("S3", "Requests", None, "0.05"),
    ("ECR", "Image storage", None, "0.50"),
    ("ALB", "Load Balancer", "0.0252", "18.40"),
    ("ALB", "LCU", None, "1.84"),
    ("NAT Gateway", "Gateways", "0.059", "43.07"),
    ("NAT Gateway", "Data Transfer", None, "0.59"),
    ("CloudWatch", "Logs", None, "3.03"),
    ("CloudWatch", "Metrics", None, "0.00"),
    ("Route 53", "Hosted zones", None, "0.50"),
    ("Secrets Manager", "Secrets", None, "2.00"),
    ("ACM", "Certificates", None, "0.00"),
    ("AI services", "Anthropic Claude", None, "20.00"),
    ("CodePipeline", "Pipelines", None, "1.00"),
    ("CodeBuild", "Build minutes", None, "2.50"),
]

PROD_TABLE = [
    ("ECS Fargate", "Frontend", "0.0688", "50.22"),
    ("ECS Fargate", "Backend", "0.2064", "150.67"),
    ("RDS PostgreSQL", "Instance", "0.080", "58.40"),
    ("RDS PostgreSQL", "Storage", None, "6.90"),
    ("RDS PostgreSQL", "Backup", None, "3.50"),
    ("ElastiCache Redis", "Nodes", "0.068", "49.64"),
    ("S3", "Storage", None, "1.15"),
    ("S3", "Requests", None, "0.50"),
    ("ECR", "Image storage", None, "1.00"),
    ("ALB", "Load Balancer", "0.0252", "18.40"),
    ("ALB", "LCU", "0.0240", "17.52"),
    ("NAT Gateway", "Gateways", "0.118", "86.14"),
    ("NAT Gateway", "Data Transfer", None, "2.95"),
    ("CloudFront", "Data Transfer", None, "12.60"),
    ("CloudFront", "Requests", None, "0.75"),
    ("CloudWatch", "Logs", None, "12.12"),
    ("CloudWatch", "Metrics", None, "7.50"),
    ("CloudWatch", "Dashboards", None, "3.00"),
    ("CloudWatch", "Alarms", None, "1.00"),
    ("Route 53", "Hosted zones", None, "0.60"),
    ("Secrets Manager", "Secrets", None, "4.00"),
    ("ACM", "Certificates", None, "0.00"),
    ("AI services", "Anthropic Claude", None, "150.00"),
    ("AI services", "GPT (backup)", None, "30.00"),
    ("CodePipeline", "Pipelines", None, "1.00"),
    ("CodeBuild", "Build minutes", None, "5.00"),
]


@pytest.mark.parametrize(("env", "table"), [("dev", DEV_TABLE), ("prod", PROD_TABLE)])
def test_every_line_of_the_document_table(env, table):
    est = estimate(SPECS, env)
    by_key = {line.key: line for line in est.lines}
    for service, item, hourly, monthly in table:
        line = by_key[(service, item)]
        assert line.monthly == Decimal(monthly), (service, item)
        if hourly is not None:
            assert line.hourly == Decimal(hourly), (service, item)
    # Nothing beyond the document's lines, except prod's VPC endpoints at the document's $0.
    extra = set(by_key) - {(s, i) for s, i, _h, _m in table}
    assert {key: by_key[key].monthly for key in extra} == (
        {("VPC Endpoints", "Endpoints"): Decimal("0.00")} if env == "prod" else {})


@pytest.mark.parametrize(("env", "total"), [("dev", "198.10"), ("prod", "674.56")])
def test_document_totals(env, total):
    assert estimate(SPECS, env).total == Decimal(total)


def test_category_shares_where_the_document_adds_up():
    dev, prod = estimate(SPECS, "dev").by_category(), estimate(SPECS, "prod").by_category()
    assert (dev["compute"], dev["database"], dev["ai"], dev["cicd"]) == (
        Decimal("75.33"), Decimal("29.04"), Decimal("20.00"), Decimal("3.50"))
    assert (prod["ai"], prod["compute"], prod["database"]) == (
        Decimal("180.00"), Decimal("200.89"), Decimal("118.44"))
    # The document says $63.50 and $137.61; its own lines add up to these (see docs/cost.md).
    assert dev["networking"] == Decimal("18.40") + Decimal("1.84") + Decimal("43.07") + Decimal("0.59")
    assert prod["networking"] == Decimal("137.61") + Decimal("0.75")  # CloudFront requests


def test_optimized_dev_reproduces_the_document():
    base, opt = estimate(SPECS, "dev"), estimate(SPECS, "dev", "optimized")
    assert opt.applied == ("free_tier", "nat_instance")
    assert opt.total == Decimal("138.55")
    assert base.total - opt.total == Decimal("59.55")
    by = lines(opt)
    rds = by[("RDS PostgreSQL", "Instance")] + by[("RDS PostgreSQL", "Storage")]
    logs = by[("CloudWatch", "Logs")] + by[("CloudWatch", "Metrics")]
    nat = by[("NAT Instance", "Instances")]
    assert (rds, nat, logs) == (Decimal("0.00"), Decimal("3.00"), Decimal("1.50"))
    assert ("NAT Gateway", "Gateways") not in by


def test_optimized_prod_lines_the_document_allows():
    opt = lines(estimate(SPECS, "prod", "optimized"))
    assert opt[("RDS PostgreSQL", "Instance")] == Decimal("21.50")
    assert opt[("ElastiCache Redis", "Nodes")] == Decimal("22.34")
    # Not the document's $150.00 / $12.00 / $80.00: what its unit prices give (docs/cost.md).
    fargate = 2 * price_shape(512, 1024) + 2 * price_shape(1024, 2048)
    assert opt[("ECS Fargate", "Frontend")] + opt[("ECS Fargate", "Backend")] == cents(
        2 * price_shape(512, 1024) * HOURS) + cents(2 * price_shape(1024, 2048) * HOURS)
    assert fargate * HOURS > Decimal("150.00")
    assert opt[("CloudWatch", "Logs")] == cents(10 * (price("cloudwatch", "log_ingest_gb")
                                                       + price("cloudwatch", "log_storage_gb_month")))
    assert opt[("AI services", "Anthropic Claude")] + opt[("AI services", "GPT (backup)")] == Decimal("90.00")


def price_shape(cpu: int, memory: int) -> Decimal:
    [entry] = [s for s in BOOK["fargate"]["task_hour"] if (s["cpu"], s["memory"]) == (cpu, memory)]
    return D(entry["usd"])


def test_no_total_is_stored():
    stored = (Path(cost.__file__).parent.parent / "data" / "prices-ap-northeast-2.yaml").read_text()
    stored += "".join(p.read_text() for p in SPECS.glob("*.yaml"))
    for total in ("198.10", "198.1 ", "674.56", "138.55", "408.36"):
        assert total not in stored


# --- the estimate follows the spec --------------------------------------------------------------


def test_instance_class_change(specs):
    before = estimate(specs, "dev")
    edit(specs / "_common.yaml", "instance_class: db.t4g.micro", "instance_class: db.t4g.small")
    after = estimate(specs, "dev")
    small = price("rds", "instance_hour", "db.t4g.small")
    micro = price("rds", "instance_hour", "db.t4g.micro")
    delta = cents((small - micro) * HOURS)
    assert delta > 0
    assert after.total - before.total == delta


def test_task_count_follows_desired_count_without_a_usage_figure(specs):
    before = estimate(specs, "dev")
    edit(specs / "dev.yaml", "  tasks: {frontend: 1, backend: 1}\n", "")
    tail = "    cpu_target: 70\n    memory_target: 80"
    edit(specs / "_common.yaml", "    desired_count: 1\n    min_count: 1\n    max_count: 2\n" + tail,
         "    desired_count: 3\n    min_count: 1\n    max_count: 4\n" + tail)
    after = estimate(specs, "dev")
    backend = price_shape(1024, 2048)
    assert after.total - before.total == cents(3 * backend * HOURS) - cents(backend * HOURS) > 0


def test_usage_task_count_is_the_cost_assumption(specs):
    before = estimate(specs, "prod")
    edit(specs / "prod.yaml", "tasks: {frontend: 2, backend: 3}", "tasks: {frontend: 2, backend: 2}")
    after = estimate(specs, "prod")
    backend = price_shape(1024, 2048)
    assert after.total - before.total == cents(2 * backend * HOURS) - cents(3 * backend * HOURS) < 0


def test_nat_per_az_change(specs):
    before = estimate(specs, "dev")
    edit(specs / "dev.yaml", "per_az: false", "per_az: true")
    after = estimate(specs, "dev")
    assert after.total - before.total == cents(2 * price("nat", "gateway_hour") * HOURS) - cents(
        price("nat", "gateway_hour") * HOURS) > 0


def test_nat_instance_mode(specs):
    before = estimate(specs, "dev")
    nat = "per_az: false\n    mode: instance\n    instance_type: t4g.nano"
    edit(specs / "dev.yaml", "per_az: false", nat)
    after = lines(estimate(specs, "dev"))
    assert after[("NAT Instance", "Instances")] == cents(price("ec2", "instance_hour", "t4g.nano") * HOURS)
    assert ("NAT Gateway", "Gateways") not in after and ("NAT Gateway", "Data Transfer") not in after
    assert sum(after.values()) < before.total


def test_cdn_toggle(specs):
    before = estimate(specs, "prod")
    edit(specs / "prod.yaml", "cdn:\n  enabled: true", "cdn:\n  enabled: false")
    after = estimate(specs, "prod")
    cdn = cents(100 * price("cloudfront", "data_gb")) + cents(price("cloudfront", "requests_per_million"))
    assert before.total - after.total == cdn > 0
    assert not any(line.service == "CloudFront" for line in after.lines)


def test_vpc_endpoints_take_aws_traffic_off_the_nat(specs):
    edit(specs / "prod.yaml", "aws_service_data_gb: 0", "aws_service_data_gb: 20")
    after = lines(estimate(specs, "prod"))
    assert after[("NAT Gateway", "Data Transfer")] == cents(30 * price("nat", "gateway_data_gb"))


def test_hours_per_month_scale_hourly_lines(specs):
    edit(specs / "dev.yaml", "hours_per_month: 730", "hours_per_month: 365")
    after = lines(estimate(specs, "dev"))
    assert after[("ALB", "Load Balancer")] == cents(price("alb", "hour") * 365)
    assert after[("S3", "Storage")] == Decimal("0.25")  # monthly prices do not scale


def test_defaults_come_from_the_schema(specs):
    text = (specs / "dev.yaml").read_text()
    (specs / "dev.yaml").write_text(text[: text.index("\n# \"예상 비용")] + "\n")
    # Without a usage section: the schema's defaults, which are the document's dev figures.
    assert estimate(specs, "dev").total == Decimal("198.10")


# --- bad input -------------------------------------------------------------------------------


def where(path: Path, needle: str) -> str:
    """file:line:col of the value after `needle` (the way the loader reports it)."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            column = line.index(needle) + len(needle) + 1
            return f"specs/{path.name}:{number}:{column}"
    raise AssertionError(needle)


def test_a_class_without_a_price_is_listed_not_priced(cli, specs):
    """db.r6g.large is a class the spec allows (codemate_tfgen/aws.py) that no price file prices."""
    edit(specs / "prod.yaml", "instance_class: db.t4g.small", "instance_class: db.r6g.large")
    edit(specs / "prod.yaml", "node_type: cache.t4g.small", "node_type: cache.r7g.large")
    code, out, err = cli("cost", "prod", "--specs", "specs")
    assert (code, err) == (0, "")
    assert "RDS instance class db.r6g.large ($.database.instance_class): no price in the price book" in out
    assert "ElastiCache node type cache.r7g.large ($.cache.node_type): no price in the price book" in out
    assert not [line for line in out.splitlines() if line.startswith(("RDS PostgreSQL     Instance", "ElastiCache"))]


def test_a_task_shape_without_a_price_of_its_own_is_priced_per_vcpu_and_gb(specs):
    edit(specs / "_common.yaml", "cpu: 512\n    memory: 1024", "cpu: 512\n    memory: 4096")
    x86 = BOOK["fargate"]["x86"]
    hourly = D("0.5") * D(x86["vcpu_hour"]["usd"]) + 4 * D(x86["gb_hour"]["usd"])
    assert lines(estimate(specs, "dev"))[("ECS Fargate", "Frontend")] == cents(hourly * HOURS)


def test_negative_usage_is_a_schema_error(cli, specs):
    edit(specs / "prod.yaml", "nat_data_gb: 50", "nat_data_gb: -1")
    code, out, err = cli("cost", "prod", "--specs", "specs")
    assert (code, out) == (2, "")
    at = where(specs / "prod.yaml", "nat_data_gb: ")
    assert err == f"{at}: $.usage.nat_data_gb: -1 is less than the minimum of 0\n"


def test_unknown_usage_key_and_inconsistent_usage(cli, specs):
    edit(specs / "dev.yaml", "nat_data_gb: 10", "nat_data_gbs: 10")
    code, _out, err = cli("cost", "dev", "--specs", "specs")
    assert code == 2
    assert "$.usage.nat_data_gbs: unknown key 'nat_data_gbs'; did you mean 'nat_data_gb'?" in err
    edit(specs / "dev.yaml", "nat_data_gbs: 10", "nat_data_gb: 10\n  aws_service_data_gb: 11")
    with pytest.raises(SpecError, match=r"\$\.usage\.aws_service_data_gb: 11 exceeds nat_data_gb \(10\)"):
        estimate(specs, "dev")
    # A validation rule: `tfgen validate` refuses what `tfgen cost` would.
    code, _out, err = cli("validate", "dev", "--specs", "specs")
    assert code == 2 and "$.usage.aws_service_data_gb: 11 exceeds nat_data_gb (10)" in err


def test_bad_reference_and_scenario(cli, specs):
    code, out, err = cli("cost", "dev", "--specs", "specs", "--against", "no-such-revision-xyz")
    assert (code, out) == (2, "")
    assert err.startswith("--against no-such-revision-xyz: not a spec file and not a git revision")
    code, _out, err = cli("cost", "dev", "--specs", "specs", "--scenario", "cheaper")
    assert code == 2 and "'cheaper' is not one of" in err


# --- --against --------------------------------------------------------------------------------


def test_against_a_spec_file(cli, specs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for name in ("_common.yaml", "prod.yaml", cost.PRICES_FILE):
        (other / name).write_text((specs / name).read_text())
    edit(specs / "prod.yaml", "tasks: {frontend: 2, backend: 3}", "tasks: {frontend: 2, backend: 4}")
    code, out, err = cli("cost", "prod", "--specs", "specs", "--against", other / "prod.yaml")
    assert (code, err) == (0, "")
    backend = price_shape(1024, 2048)
    delta = cents(4 * backend * HOURS) - cents(3 * backend * HOURS)
    changed = [line for line in out.splitlines() if line.startswith("ECS Fargate")]
    assert len(changed) == 1 and changed[0].endswith(f"+${delta}")
    assert out.splitlines()[-1] == f"delta: +${delta} a month (+{delta / Decimal('674.56') * 100:.1f}%)"


def test_against_a_git_revision(cli, tmp_path):
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    for path in SPECS.glob("*.yaml"):
        (repo / "specs" / path.name).write_text(path.read_text())
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "specs"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    edit(repo / "specs" / "prod.yaml", "cdn:\n  enabled: true", "cdn:\n  enabled: false")
    code, out, err = cli("cost", "--all", "--specs", repo / "specs", "--against", "HEAD", "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    cdn = cents(100 * price("cloudfront", "data_gb")) + cents(price("cloudfront", "requests_per_million"))
    assert D(data["delta_usd"]) == -cdn
    prod = next(e for e in data["environments"] if e["environment"] == "prod")
    assert {(line["service"], line["item"]) for line in prod["lines"]} == {
        ("CloudFront", "Data Transfer"), ("CloudFront", "Requests")}
    code, out, _err = cli("cost", "prod", "--specs", repo / "specs", "--against", "HEAD")
    assert code == 0 and out.splitlines()[-1].startswith(f"delta: -${cdn} a month")


def test_against_a_revision_without_the_environment(cli, tmp_path):
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    for name in ("_common.yaml", "dev.yaml", cost.PRICES_FILE):
        (repo / "specs" / name).write_text((SPECS / name).read_text())
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "dev only"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    (repo / "specs" / "prod.yaml").write_text((SPECS / "prod.yaml").read_text())
    code, out, _err = cli("cost", "prod", "--specs", repo / "specs", "--against", "HEAD")
    assert code == 0
    assert "prod has no spec at HEAD" in out
    assert out.splitlines()[-1] == "delta: +$674.56 a month"


# --- formats ----------------------------------------------------------------------------------


def test_json_format(cli):
    code, out, _err = cli("cost", "dev", "--specs", SPECS, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert D(data["total_usd"]) == Decimal("198.10")
    assert sum(D(line["monthly_usd"]) for line in data["lines"]) == D(data["total_usd"])
    assert D(data["categories"]["compute"]["monthly_usd"]) == Decimal("75.33")


def test_markdown_tables_are_well_formed(cli):
    code, out, _err = cli("cost", "--all", "--specs", SPECS, "--format", "markdown")
    assert code == 0
    tables: list[list[str]] = [[]]
    for line in out.splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 2
    for table in tables:
        widths = {line.count("|") for line in table}
        assert len(widths) == 1, table
        assert set(table[1].replace("|", "").split()) <= {"---", "---:"}
    assert tables[0][0] == "| service | line item | dev | prod | staging |"
    assert "| Total |  | $198.10 | $674.56 |" in out


def test_table_format_and_scenario_summary(cli):
    code, out, _err = cli("cost", "dev", "--specs", SPECS, "--scenario", "optimized")
    assert code == 0
    share = Decimal("75.33") / Decimal("138.55") * 100
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("Compute (ECS, EC2)")] == [f"{share:.1f}%"]
    assert "vs baseline: $198.10 -> $138.55, saving $59.55 (30.1%)" in out.splitlines()
    code, out, _err = cli("cost", "dev", "--specs", SPECS)
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("Total")] == ["$198.10"]
    assert "Compute (ECS, EC2)" in out and "38.0%" in out


def test_help_has_examples(cli):
    code, out, _err = cli("cost", "--help")
    assert code == 0
    assert "Examples:" in out and "tfgen cost prod --against origin/main" in out


def test_docs_cost_table_is_what_tfgen_computes():
    """docs/cost.md's table of the design document's environments is a second notation of the estimates and budgets:
    checked against them, so a spec change cannot leave it stale (it once showed staging's
    budget as 300 while the spec said 450)."""
    readme = (Path(__file__).resolve().parent.parent / "docs" / "cost.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] in ("dev", "prod", "staging"):
            rows[cells[0]] = cells[1:4]
    specs = {spec.name: spec for spec in load_valid_specs(SPECS, ["dev", "prod", "staging"])}
    assert sorted(rows) == sorted(specs)
    for env, spec in specs.items():
        baseline, optimized = cost.estimate(spec).total, cost.estimate(spec, ("optimized",)).total
        budget = D(spec.data["budget"]["monthly_limit_usd"])
        assert rows[env] == [f"{baseline:.2f}", f"{optimized:.2f}", f"{budget:.0f}"], env
