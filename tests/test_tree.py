"""Writing and checking the generated tree: atomic replacement, orphans, unmanaged files,
symlinks, staleness diffs, and spec strings that survive the trip into HCL unchanged."""

from __future__ import annotations

import json
import os

import hcl2
import pytest
from conftest import edit, tree_files

from codemate_tfgen import hcl, tree
from codemate_tfgen.errors import UsageError

MANIFEST = "infrastructure/.tfgen-manifest.json"


@pytest.fixture
def rendered(cli, specs, tmp_path):
    out = tmp_path / "out"
    code, _, err = cli("render", "--specs", specs, "--out", out)
    assert code == 0, err
    return out


def test_check_reports_changed_missing_and_orphaned(cli, specs, rendered):
    main = rendered / "infrastructure/environments/dev/main.tf"
    main.write_text(main.read_text().replace("module \"vpc\"", "module \"vpc_renamed\""))
    (rendered / "infrastructure/environments/prod/outputs.tf").unlink()
    manifest = json.loads((rendered / MANIFEST).read_text())
    manifest["files"]["infrastructure/old/left.tf"] = {"owner": "shared", "sha256": "0"}
    (rendered / "infrastructure/old").mkdir()
    (rendered / "infrastructure/old/left.tf").write_text("# old\n")
    (rendered / MANIFEST).write_text(json.dumps(manifest))

    code, out, err = cli("check", "--specs", specs, "--out", rendered)
    assert code == 1
    assert '-module "vpc_renamed" {' in out and '+module "vpc" {' in out
    assert "--- a/infrastructure/environments/dev/main.tf" in out
    assert "missing: infrastructure/environments/prod/outputs.tf" in out
    assert "orphaned: infrastructure/old/left.tf" in out
    assert "stale" in err


def test_render_restores_and_removes_orphans_but_keeps_unmanaged_files(cli, specs, rendered):
    before = tree_files(rendered)
    env = rendered / "infrastructure/environments/dev"
    (env / ".terraform").mkdir()
    (env / ".terraform/plugin").write_text("binary")
    (env / ".terraform.lock.hcl").write_text("# lock\n")
    lock_inode = (env / ".terraform.lock.hcl").stat().st_ino
    manifest = json.loads((rendered / MANIFEST).read_text())
    manifest["files"]["infrastructure/environments/dev/gone.tf"] = {"owner": "dev", "sha256": "0"}
    (env / "gone.tf").write_text("# no longer generated\n")
    (rendered / MANIFEST).write_text(json.dumps(manifest))
    (env / "main.tf").write_text("# edited by hand\n")

    code, out, _ = cli("render", "--specs", specs, "--out", rendered)
    assert code == 0
    assert "removed: infrastructure/environments/dev/gone.tf" in out
    assert "updated: infrastructure/environments/dev/main.tf" in out
    after = tree_files(rendered)
    assert (env / ".terraform/plugin").read_text() == "binary"
    assert (env / ".terraform.lock.hcl").stat().st_ino == lock_inode, "unmanaged files are moved, not copied"
    assert {k: v for k, v in after.items() if ".terraform" not in k} == before
    assert not any(p.name.startswith(tree.STAGING_PREFIX) for p in rendered.iterdir())


def test_rendering_one_environment_leaves_the_others_alone(cli, specs, rendered):
    prod = rendered / "infrastructure/environments/prod/main.tf"
    prod.write_text(prod.read_text() + "# local experiment\n")
    code, _, _ = cli("render", "dev", "--specs", specs, "--out", rendered)
    assert code == 0
    assert prod.read_text().endswith("# local experiment\n")
    code, out, _ = cli("check", "prod", "--specs", specs, "--out", rendered)
    assert code == 1 and "+# local experiment" not in out and "-# local experiment" in out


def test_failure_mid_write_leaves_the_old_tree(cli, specs, rendered, monkeypatch):
    before = tree_files(rendered)
    (specs / "dev.yaml").write_text((specs / "dev.yaml").read_text().replace("per_az: false", "per_az: true"))
    real = tree._write_file
    calls = []

    def failing(staging, path, text):
        calls.append(path)
        if len(calls) == 10:
            raise OSError(28, "No space left on device")
        real(staging, path, text)

    monkeypatch.setattr(tree, "_write_file", failing)
    with pytest.raises(UsageError, match="No space left on device"):
        tree.update_tree(rendered, {p: "x" for p in before if p != MANIFEST}, None)
    assert tree_files(rendered) == before
    assert not any(p.name.startswith(tree.STAGING_PREFIX) for p in rendered.iterdir())


def test_symlink_inside_tree_is_never_written_through(cli, specs, rendered, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    modules = rendered / "infrastructure/modules/networking"
    target = modules / "vpc"
    for child in target.iterdir():
        (outside / child.name).write_text("outside, must stay\n")
    for child in list(target.iterdir()):
        child.unlink()
    target.rmdir()
    os.symlink(outside, target)
    code, _, err = cli("render", "--specs", specs, "--out", rendered)
    assert code == 2
    assert "symlink" in err
    assert all(p.read_text() == "outside, must stay\n" for p in outside.iterdir())
    assert target.is_symlink()


def test_output_root_that_is_a_symlink_is_refused(cli, specs, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    code, _, err = cli("render", "--specs", specs, "--out", tmp_path / "link")
    assert code == 2 and "symlink" in err
    assert list(real.iterdir()) == []


NASTY = ['quote " and backslash \\ end', "interp ${var.x} and %{ if true }x%{ endif }", "new\nline\ttab",
         "unicode é ✓ 한국어", "$${already}", "trailing \\", "# not a comment", "/* no */ // no"]


def test_spec_strings_round_trip_through_hcl(cli, specs, tmp_path):
    base = specs / "_common.yaml"
    tags = "".join(f"  T{i}: {json.dumps(value)}\n" for i, value in enumerate(NASTY))
    base.write_text(base.read_text().replace("tags:\n  Service: codemate\n", "tags:\n" + tags))
    out = tmp_path / "out"
    code, _, err = cli("render", "dev", "--specs", specs, "--out", out)
    assert code == 0, err
    parsed = hcl2.loads((out / "infrastructure/environments/dev/terraform.tfvars").read_text())
    assert {k: hcl.unquote(v) for k, v in parsed["tags"].items()} == {f"T{i}": v for i, v in enumerate(NASTY)}


def test_quote_and_unquote_are_inverse_on_hcl2_output():
    for value in NASTY:
        assert hcl.unquote(hcl2.loads(f"a = {hcl.quote(value)}\n")["a"]) == value


# Terraform loads these from a module's folder together with the generated files.
FOREIGN = ["environments/dev/extra.tf", "environments/dev/extra.tf.json", "environments/prod/extra.tfvars",
           "environments/staging/local.auto.tfvars", "environments/dev/local.auto.tfvars.json",
           "modules/compute/ecr/override.tf"]
# Terraform's own files, and files Terraform does not read: never reported.
TERRAFORMS_OWN = ["environments/dev/.terraform/modules/x/main.tf", "environments/dev/.terraform.lock.hcl",
                  "environments/dev/tfplan", "environments/dev/dev.tfplan", "environments/dev/terraform.tfstate",
                  "environments/dev/terraform.tfstate.backup", "environments/dev/notes.txt",
                  "modules/compute/ecr/examples/main.tf"]


def _add(root, paths):
    for path in paths:
        target = root / "infrastructure" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# {path}, added by hand\n")


def test_check_names_every_foreign_terraform_file(cli, specs, rendered):
    _add(rendered, FOREIGN + TERRAFORMS_OWN)
    code, out, err = cli("check", "--specs", specs, "--out", rendered)
    assert code == 1
    assert sorted(line for line in out.splitlines() if line.startswith("foreign: ")) == sorted(
        f"foreign: infrastructure/{path}" for path in FOREIGN)
    assert "Terraform loads" in err and "tfgen did not generate" in err
    assert "stale" not in err, "nothing generated is stale"


def test_check_ignores_terraforms_own_files(cli, specs, rendered):
    _add(rendered, TERRAFORMS_OWN)
    code, out, err = cli("check", "--specs", specs, "--out", rendered)
    assert (code, err) == (0, ""), out + err


def test_check_of_one_environment_names_its_foreign_files(cli, specs, rendered):
    _add(rendered, FOREIGN)
    code, out, _err = cli("check", "prod", "--specs", specs, "--out", rendered)
    assert code == 1
    assert sorted(line for line in out.splitlines() if line.startswith("foreign: ")) == [
        "foreign: infrastructure/environments/prod/extra.tfvars",
        "foreign: infrastructure/modules/compute/ecr/override.tf"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_render_keeps_foreign_files_and_warns(cli, specs, rendered, dry_run):
    _add(rendered, FOREIGN)
    before = {path: (rendered / "infrastructure" / path).read_text() for path in FOREIGN}
    edit(specs / "dev.yaml", "hostname: codemate-dev", "hostname: codemate-devel")
    code, out, err = cli("render", "--specs", specs, "--out", rendered, *(["--dry-run"] if dry_run else []))
    assert code == 0, err
    assert ("would update" if dry_run else "updated") + ": infrastructure/environments/dev/terraform.tfvars" in out
    assert {path: (rendered / "infrastructure" / path).read_text() for path in FOREIGN} == before
    warnings = [line for line in err.splitlines() if line.startswith("tfgen: warning: ")]
    assert sorted(warnings) == sorted(
        f"tfgen: warning: infrastructure/{path}: a Terraform file tfgen did not generate, among generated ones; "
        "left as it is, and `tfgen check` fails until it is moved or removed" for path in FOREIGN)


def test_dry_run_says_when_nothing_would_change(cli, specs, rendered):
    code, out, err = cli("render", "--dry-run", "--specs", specs, "--out", rendered)
    assert (code, err) == (0, "")
    assert out == "tfgen: nothing would change: out/infrastructure is up to date\n"


def test_check_diff_has_no_manifest_noise(cli, specs, rendered):
    edit(specs / "dev.yaml", "hostname: codemate-dev", "hostname: codemate-devel")
    code, out, _err = cli("check", "--specs", specs, "--out", rendered)
    assert code == 1
    assert "--- a/infrastructure/environments/dev/terraform.tfvars" in out
    assert ".tfgen-manifest.json" not in out and "sha256" not in out, out
