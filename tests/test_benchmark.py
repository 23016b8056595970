"""The benchmark runs and reports every figure (quick mode: no timing is asserted anywhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, SPECS

from codemate_tfgen.cache import KINDS

pytestmark = pytest.mark.slow  # the benchmark: not in `scripts/test.sh --fast`

PER_FILE = ("hcl2", "aws-schema")  # scripts/benchmark.py weighs these after an edit

ROWS = [
    "terraform fmt -check -recursive (subprocess)",
    "terraform fmt -check -recursive (in-process)",
    "tfgen check (subprocess, warm cache)",
    "tfgen check (subprocess, cache off)",
    *(f"tfgen check, warm but without the {kind} cache" for kind in KINDS if kind not in PER_FILE),
    "tfgen check after a spec edit (warm cache)",
    *(f"tfgen check after a spec edit, without the {kind} cache" for kind in PER_FILE),
    "tfgen render --all (subprocess, warm cache)",
    "tfgen render --all (subprocess, cache off)",
    "verify (in-process, warm cache)",
    "verify (in-process, cache off; parses every file)",
    "parse-back: hcl2.loads, one process (as before)",
    "parse-back: tfgen, one process",
    "parse-back: tfgen, ",  # the number of processes is the machine's
]
TARGETS = ["check_cold_vs_fmt", "check_vs_fmt", "render_cold_seconds", "scale_check_cold_100_vs_3", "peak_rss_mb"]


def test_quick_benchmark_reports_every_row(tmp_path):
    result_file = tmp_path / "bench.json"
    docs = tmp_path / "performance.md"
    docs.write_text((REPO / "docs" / "performance.md").read_text())
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--quick", "--runs", "1", "--warmup", "0",
         "--scale", "1,3", "--specs", str(SPECS), "--json", str(result_file),
         "--docs", str(docs)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for row in ROWS:
        assert row in out
    assert "machine:" in out and "CPUs" in out and "Python" in out
    # --docs: the figures block of the page is this run's, the rest of the page as it was.
    written = docs.read_text()
    page = (REPO / "docs" / "performance.md").read_text()
    begin, end = "<!-- figures: written by", "<!-- end of figures -->"
    assert written.split(begin)[0] == page.split(begin)[0] and written.split(end)[1] == page.split(end)[1]
    block = written.split(begin)[1].split(end)[0]
    assert "--quick --runs 1" in block
    for row in ROWS:
        assert f"| {row}" in block
    # The scaling table: one line per scale, each with a time per environment.
    scaling = out.split("scaling (synthetic environments", 1)[1].split("targets", 1)[0].splitlines()[2:]
    assert [line.split()[0] for line in scaling if line.strip()] == ["1", "3"]
    results = json.loads(result_file.read_text())
    assert {row["target"] for row in results["targets"]} == set(TARGETS)
    statuses = {row["target"]: row["status"] for row in results["targets"]}
    # 100 environments were not measured, so the scaling target cannot be judged; the others are.
    assert statuses.pop("scale_check_cold_100_vs_3") == "SKIP"
    assert set(statuses.values()) <= {"PASS", "FAIL"}
    for row in results["targets"]:
        assert f"{row['status']}  " in out
    for key, measurement in results["measurements"].items():
        assert measurement["runs"] == 1, key
        assert 0 < measurement["min_s"] <= measurement["median_s"] <= measurement["max_s"], key
        assert measurement["vs_fmt"] > 0, key
    assert results["measurements"]["render"]["peak_rss_mb"] > 0
    assert results["measurements"]["check_cold"]["peak_rss_mb"] > 0
    assert set(results["scaling"]) == {"1", "3"}
    for kind in ("render", "check", "check_cold"):
        three = results["scaling"]["3"][kind]
        assert three["per_env_s"] == pytest.approx(three["median_s"] / 3)
