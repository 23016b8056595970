"""The price book: AWS's prices for every class it names, only classes the spec allows, what has
no price listed with the estimate, and a project's own prices over the book (specs/_prices.yaml).

Fixtures: the all-options golden variant's specs (tests/golden/all-options/specs), which have no
price file of their own, copied so a test may change them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import REPO, edit

from codemate_tfgen.cost import model as cost
from codemate_tfgen.spec.valid import load_valid_specs

VARIANT = REPO / "tests" / "golden" / "all-options" / "specs"
SHIPPED = yaml.safe_load((Path(cost.__file__).parent.parent / "data" / "prices-ap-northeast-2.yaml").read_text("utf-8"))
TFGEN = Path(sys.executable).parent / "tfgen"


@pytest.fixture
def variant(tmp_path: Path) -> Path:
    shutil.copytree(VARIANT, tmp_path / "variant" / "specs")
    return tmp_path / "variant" / "specs"


def estimate(specs: Path, env: str = "prod") -> cost.Estimate:
    [spec] = load_valid_specs(specs, [env])
    return cost.estimate(spec)


def lines(est: cost.Estimate) -> dict[tuple[str, str], Decimal]:
    return {line.key: line.monthly for line in est.lines}


def test_the_book_prices_only_classes_the_spec_allows_and_says_where_each_price_comes_from():
    for table, (known, _what) in cost.CLASS_TABLES.items():
        entries = SHIPPED[table[0]][table[1]]
        assert set(entries) <= known, (table, set(entries) - known)
    sources = SHIPPED["sources"]
    assert sources["aws"]["as_of"] and sources["document"]["as_of"]

    def entries(node):
        if isinstance(node, dict) and ("usd" in node or "value" in node):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from entries(value)
    prices = list(entries({k: v for k, v in SHIPPED.items() if k != "sources"}))
    assert prices and all(entry.get("source") for entry in prices)
    # The instance classes, gp3 storage and Fargate are AWS's prices, dated by the "aws" source.
    for table in (("rds", "instance_hour"), ("elasticache", "node_hour"), ("ec2", "instance_hour"),
                  ("fargate", "x86"), ("fargate", "arm")):
        assert all(e["source"].startswith("aws: ") for e in SHIPPED[table[0]][table[1]].values()), table
    assert SHIPPED["rds"]["gp3_gb_month"]["source"].startswith("aws: ")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", sources["aws"]["as_of"])


# The class tables by the name docs/cost.md's "Not covered" table gives them.
CLASS_TABLE_NAMES = {"RDS": ("rds", "instance_hour"), "ElastiCache": ("elasticache", "node_hour"),
                     "EC2": ("ec2", "instance_hour")}


def documented_not_covered() -> dict[tuple[str, str], set[str]]:
    """docs/cost.md's "Not covered" table, rows `| table | family | size, size, ... |`, as classes."""
    text = (REPO / "docs" / "cost.md").read_text("utf-8")
    section = text.split("### Not covered", 1)[1].split("\n### ", 1)[0]
    listed: dict[tuple[str, str], set[str]] = {table: set() for table in CLASS_TABLE_NAMES.values()}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in CLASS_TABLE_NAMES:
            listed[CLASS_TABLE_NAMES[cells[0]]] |= {f"{cells[1]}.{size.strip()}" for size in cells[2].split(",")}
    return listed


def test_every_class_the_spec_accepts_is_priced_or_documented_as_not_covered():
    """The classes come from codemate_tfgen/aws.py (through the model's class tables), the prices
    from the shipped book: docs/cost.md lists exactly the difference, so a class added to aws.py,
    or priced, leaves no stale or missing row."""
    listed = documented_not_covered()
    assert set(CLASS_TABLE_NAMES.values()) <= set(cost.CLASS_TABLES)
    for table, classes in listed.items():
        accepted, _what = cost.CLASS_TABLES[table]
        priced = set(SHIPPED[table[0]][table[1]])
        assert classes, table
        assert classes <= accepted, (table, sorted(classes - accepted))
        assert not classes & priced, (table, sorted(classes & priced))
        assert classes | priced == accepted, (table, sorted(accepted - classes - priced))
    counts = re.search(r"prices (\d+) of (\d+) RDS classes, (\d+) of (\d+)\s+ElastiCache node types and (\d+) of "
                       r"(\d+) EC2 instance types", (REPO / "docs" / "cost.md").read_text("utf-8"))
    assert counts, "docs/cost.md states how many classes the book prices"
    assert [int(n) for n in counts.groups()] == [
        n for table in CLASS_TABLE_NAMES.values()
        for n in (len(SHIPPED[table[0]][table[1]]), len(cost.CLASS_TABLES[table][0]))]


def test_the_book_counts_a_multi_az_instances_storage_twice_and_a_price_file_may_count_it_once(variant):
    """AWS bills the standby's storage; the design document counts it once (its price file says so)."""
    storage = Decimal(50)  # the variant's prod: 50 GB, Multi-AZ
    gp3 = Decimal(str(SHIPPED["rds"]["gp3_gb_month"]["usd"]))
    copies = Decimal(str(SHIPPED["rds"]["multi_az_storage_factor"]["value"]))
    assert copies == 2
    est = estimate(variant)
    assert lines(est)[("RDS PostgreSQL", "Storage")] == (storage * gp3 * copies).quantize(Decimal("0.01"))
    assert [line.spec for line in est.lines if line.item == "Storage" and line.service == "RDS PostgreSQL"] == [
        "50GB gp3, Multi-AZ x 2"]
    write_prices(variant, "rds:\n  multi_az_storage_factor: {value: 1, source: ours}\n")
    once = estimate(variant)
    assert lines(once)[("RDS PostgreSQL", "Storage")] == (storage * gp3).quantize(Decimal("0.01"))
    assert [line.spec for line in once.lines if line.item == "Storage" and line.service == "RDS PostgreSQL"] == [
        "50GB gp3"]
    # A Single-AZ instance's storage is one copy whatever the factor.
    (variant / cost.PRICES_FILE).unlink()
    edit(variant / "_prod.yaml", "multi_az: true", "multi_az: false")
    assert lines(estimate(variant))[("RDS PostgreSQL", "Storage")] == (storage * gp3).quantize(Decimal("0.01"))


def test_a_class_the_book_has_no_price_for_is_listed_in_table_and_json(variant, cli):
    edit(variant / "prod.yaml", "bastion: {}", "bastion: {instance_type: m7g.large}")
    est = estimate(variant)
    assert ("EC2", "Bastion host") not in lines(est)
    note = "EC2 instance type m7g.large ($.bastion.instance_type): no price in the price book"
    assert note in est.unpriced
    code, out, err = cli("cost", "prod", "--specs", variant)
    assert (code, err) == (0, "")
    assert "not priced (not in the totals):" in out and f"  - {note}" in out
    code, out, _err = cli("cost", "prod", "--specs", variant, "--format", "json")
    assert note in json.loads(out)["unpriced"]


def test_every_estimate_lists_what_it_does_not_price(variant):
    unpriced = estimate(variant).unpriced
    assert any(note.startswith("data transfer out to the internet") for note in unpriced)
    assert any("Bedrock" in note for note in unpriced)
    # Options add theirs: the variant replicates its backups to another region.
    assert "cross-region transfer of the replicated backups" in unpriced


def test_a_price_file_overrides_and_extends_the_book(variant):
    before = lines(estimate(variant))
    (variant / cost.PRICES_FILE).write_text(
        "source: negotiated prices\n"
        "rds:\n"
        "  instance_hour:\n"
        "    db.t4g.small: {usd: 0.5, source: ours}\n"
        "ec2:\n"
        "  instance_hour:\n"
        "    t4g.nano: {usd: 0.01, source: ours}\n")
    after = lines(estimate(variant))
    hours = Decimal(730)
    assert after[("RDS PostgreSQL", "Instance")] == Decimal("0.5") * 2 * hours  # the variant's prod is Multi-AZ
    assert ("EC2", "Bastion host") not in before
    assert after[("EC2", "Bastion host")] == Decimal("0.01") * hours
    # Entries not in the file keep the book's price.
    assert after[("RDS PostgreSQL", "Storage")] == before[("RDS PostgreSQL", "Storage")]
    assert after[("ECS Fargate", "Backend")] == before[("ECS Fargate", "Backend")]


def write_prices(specs: Path, text: str) -> Path:
    path = specs / cost.PRICES_FILE
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "line", "column", "field", "message"), [
    ("rds:\n  instance_hour:\n    db.t4g.mirco: {usd: 0.02}\n", 3, 5, "$.rds.instance_hour[\"db.t4g.mirco\"]",
     "db.t4g.mirco is not an RDS instance class tfgen knows; did you mean 'db.t4g.micro'?"),
    ("rds:\n  instance_hour:\n    db.t4g.micro: {usd: -1}\n", 3, 25, "$.rds.instance_hour[\"db.t4g.micro\"].usd",
     "must be a number, 0 or more"),
    ("rdss:\n  instance_hour: {}\n", 1, 1, "$.rdss", "not in the price book; did you mean 'rds'?"),
    ("fargate:\n  task_hour:\n    - {cpu: 512, memory: 512, usd: 0.1}\n", 3, 7, "$.fargate.task_hour[0]",
     "512 CPU / 512 MiB is not a Fargate task size"),
    ("rds:\n  multi_az_factor: {usd: 2}\n", 2, 20, "$.rds.multi_az_factor",
     "the book's entry is a factor (value); give value"),
])
def test_price_file_errors_name_file_line_and_field(variant, cli, text, line, column, field, message):
    write_prices(variant, text)
    code, out, err = cli("cost", "prod", "--specs", variant)
    assert (code, out) == (2, "")
    assert err.endswith(f"specs/_prices.yaml:{line}:{column}: {field}: {message}\n"), err


def test_cost_all_totals_the_environments_and_each_share_of_its_budget(specs, cli):
    code, out, _err = cli("cost", "--all", "--specs", "specs", "--format", "json")
    data = json.loads(out)
    assert code == 0
    envs = data["environments"]
    assert Decimal(str(data["total_usd"])) == sum(Decimal(str(e["total_usd"])) for e in envs)
    for env in envs:
        assert env["budget_share"] == round(env["total_usd"] / env["budget_usd"], 4)
    assert data["budget_share"] == round(data["total_usd"] / data["budget_usd"], 4)
    code, out, _err = cli("cost", "--all", "--specs", "specs")
    [share_row] = [line for line in out.splitlines() if line.startswith("Share of budget")]
    assert share_row.split()[3:] == [f"{e['total_usd'] / e['budget_usd'] * 100:.1f}%" for e in envs]
    total = sum(Decimal(str(e["total_usd"])) for e in envs)
    assert f"all environments: ${total:,.2f} a month" in out


@pytest.mark.slow  # the installed tfgen: `scripts/test.sh --fast` does not reinstall
def test_the_installed_tfgen_reads_the_projects_price_file(variant):
    """`pip install .` (not editable), as the README's first command: the price file is the
    project's, not the package's."""
    assert TFGEN.is_file(), f"no installed tfgen at {TFGEN}: run `bash scripts/test.sh`"
    write_prices(variant, "ec2:\n  instance_hour:\n    t4g.nano: {usd: 0.01, source: ours}\n")
    result = subprocess.run([str(TFGEN), "cost", "prod", "--specs", str(variant), "--format", "json"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    by_item = {(line["service"], line["item"]): line["monthly_usd"] for line in json.loads(result.stdout)["lines"]}
    assert by_item[("EC2", "Bastion host")] == 7.3
    write_prices(variant, "ec2:\n  instance_hour:\n    t4g.nanoo: {usd: 0.01}\n")
    result = subprocess.run([str(TFGEN), "cost", "prod", "--specs", str(variant)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert ("_prices.yaml:3:5: $.ec2.instance_hour[\"t4g.nanoo\"]: t4g.nanoo is not an EC2 instance type"
            in result.stderr)
