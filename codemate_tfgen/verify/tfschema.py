"""Check rendered Terraform against the hashicorp/aws 6.25.0 schema, without Terraform.

The schema (``data/aws_provider_schema.json.gz``, see its PROVENANCE.md) has the shape
of ``terraform providers schema -json``.  Loading it takes ~40 ms (gunzip + json);
checking a module is dictionary look-ups and one regex pass over expressions.

Input: what python-hcl2 8.x returns for each file
-------------------------------------------------
``hcl2.loads(text)`` (python-hcl2 8.1.4) returns, per file::

    {"resource": [{'"aws_vpc"': {'"this"': BODY}}, ...],      # one dict per block
     "data":     [{'"aws_caller_identity"': {'"current"': BODY}}],
     "output":   [{'"x"': BODY}], "locals": [BODY], "module": [...], ...}

* Block labels keep their double quotes (``'"aws_vpc"'``).
* ``BODY`` maps argument names to values and carries ``"__is_block__": True``.
* Nested blocks are lists of bodies, each with ``"__is_block__": True``; repeated
  blocks of one type accumulate in that list.  ``dynamic "x" {...}`` appears as
  ``"dynamic": [{'"x"': {"for_each": ..., "content": [BODY], "__is_block__": True}}]``.
* Values: string literals keep quotes (``'"10.0.0.0/16"'``), any other expression is
  the source text wrapped as ``"${...}"`` (``"${aws_vpc.this.id}"``), numbers/bools/null
  are Python values, tuples are lists, object constructors are dicts *without*
  ``__is_block__`` (that marker is what tells ``tags = {...}`` from a block).
* Comments appear under ``__comments__`` / ``__inline_comments__`` keys (ignored here).
* There is **no line information**: 8.1.4 declares ``SerializationOptions.with_meta``
  but never emits ``__start_line__``, and ``loads()`` takes no ``with_meta`` keyword.
  Lines therefore come from the file text (pass ``texts``); a ``__start_line__`` key,
  if a later python-hcl2 emits one, is used when present.

Findings cover every ``resource`` and ``data`` block whose type starts with ``aws_``:
unknown type, unsupported argument or block (with "did you mean"), missing required
argument or block, argument written as a block and the reverse, computed-only attribute
set, and references ``aws_x.name.attr`` / ``data.aws_x.name.attr`` whose first attribute
does not exist.  The real provider's value validators are not represented.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from codemate_tfgen.errors import Finding

PROVIDER_ADDR = "registry.terraform.io/hashicorp/aws"
SCHEMA_FILE = "aws_provider_schema.json.gz"
# Terraform's meta-arguments and meta-blocks, valid in every resource/data block.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection", "dynamic"}
REFERENCE_RE = re.compile(
    r"(?<![\w.])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"  # [data.]type.name
    r"(?:\[(?:[^\[\]]|\[[^\]]*\])*\]|\.\*)*"                   # [0], ["k"], [x[0]], [*], .*
    r"\.([A-Za-z_]\w*)"                                        # first attribute
)


# --- the schema ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """{"provider": ..., "resource_schemas": {...}, "data_source_schemas": {...}} (cached)."""
    raw = resources.files("codemate_tfgen").joinpath("data", SCHEMA_FILE).read_bytes()
    return json.loads(gzip.decompress(raw))["provider_schemas"][PROVIDER_ADDR]


@lru_cache(maxsize=4096)
def type_entry(key: str, type_name: str) -> dict | None:
    """load_schema()[key].get(type_name), through the user cache (codemate_tfgen.cache).

    Loading the whole schema costs ~50 ms, a third of a `tfgen check`, while a tree uses a
    few dozen of its ~2,000 types; the cache keeps each used entry, keyed by the schema file's hash.
    """
    from codemate_tfgen import cache

    if not re.fullmatch(r"[a-z0-9_]+", type_name):  # cache entries are files named after the type
        return load_schema()[key].get(type_name)
    folder = _type_cache()
    stored = cache.get_json(folder, f"{key}.{type_name}")
    if isinstance(stored, dict) and "entry" in stored:
        return stored["entry"]
    entry = load_schema()[key].get(type_name)
    cache.put_json(folder, f"{key}.{type_name}", {"entry": entry})
    return entry


def _type_cache():
    from codemate_tfgen import cache

    return cache.directory("aws-schema", _schema_file_hash())


@lru_cache(maxsize=1)
def _schema_file_hash() -> str:
    raw = resources.files("codemate_tfgen").joinpath("data", SCHEMA_FILE).read_bytes()
    return hashlib.sha256(raw).hexdigest()


def block_schema(kind: str, type_name: str) -> dict | None:
    key = "resource_schemas" if kind == "resource" else "data_source_schemas"
    entry = type_entry(key, type_name)
    return entry["block"] if entry else None


def is_computed_only(attr: dict) -> bool:
    return bool(attr.get("computed")) and not attr.get("optional") and not attr.get("required")


def accepts_block_syntax(attr: dict) -> bool:
    """list/set(object) attributes may be written as blocks (Terraform's blocktoattr)."""
    cty = attr["type"]
    return (isinstance(cty, list) and cty[0] in ("list", "set")
            and isinstance(cty[1], list) and cty[1][0] == "object")


def did_you_mean(name: str, candidates) -> str:
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' Did you mean "{match[0]}"?' if match else ""


# --- the parsed HCL ------------------------------------------------------------------------


def unquote_label(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def is_block_list(value) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(v, dict) and v.get("__is_block__") for v in value))


def labelled_blocks(parsed: dict, kind: str) -> Iterator[tuple[str, str, dict]]:
    """(type, name, body) for every `kind "type" "name" {}` block of one file."""
    for entry in parsed.get(kind, []):
        for type_label, named in entry.items():
            if type_label.startswith("__"):
                continue
            for name_label, body in named.items():
                if not name_label.startswith("__"):
                    yield unquote_label(type_label), unquote_label(name_label), body


def body_items(body: dict) -> Iterator[tuple[str, object]]:
    return ((k, v) for k, v in body.items() if not k.startswith("__"))


@lru_cache(maxsize=1024)  # a few hundred keys recur in every block: more than re's own cache holds
def _key_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf'^\s*{re.escape(key)}\s*(=|\{{|")')


class LineFinder:
    """Approximate source lines from the file text (python-hcl2 8.1.4 gives none)."""

    def __init__(self, text: str | None):
        self.lines = text.splitlines() if text else []

    def header(self, kind: str, type_name: str, name: str) -> int:
        pattern = re.compile(rf'^\s*{kind}\s+"{re.escape(type_name)}"\s+"{re.escape(name)}"')
        return self._first(pattern, 1) or 1

    def key(self, key: str, after: int) -> int:
        """First line at or after `after` that starts with `key =`, `key {` or `key "`."""
        return self._first(_key_pattern(key), after) or after

    def text(self, needle: str) -> int:
        for i, line in enumerate(self.lines, 1):
            if needle in line:
                return i
        return 1

    def _first(self, pattern: re.Pattern, start: int) -> int | None:
        for i in range(max(start, 1) - 1, len(self.lines)):
            if pattern.search(self.lines[i]):
                return i + 1
        return None


# --- checking one block against its schema ---------------------------------------------------


class BlockChecker:
    def __init__(self, file: str, lines: LineFinder, findings: list[Finding]):
        self.file, self.lines, self.findings = file, lines, findings

    def add(self, line: int, message: str) -> None:
        self.findings.append(Finding(self.file, line, message))

    def check(self, schema: dict, body: dict, where: str, line: int, top: bool) -> None:
        attrs = schema.get("attributes", {})
        blocks = schema.get("block_types", {})
        dynamic_names = self.dynamic_block_names(body)
        for key, value in body_items(body):
            key_line = body.get("__start_line__") or self.lines.key(key, line)
            if top and (key in META_ARGUMENTS or key in META_BLOCKS):
                if key == "dynamic":
                    self.check_dynamic(value, blocks, attrs, where, key_line)
                continue
            if not top and key == "dynamic":
                self.check_dynamic(value, blocks, attrs, where, key_line)
                continue
            if key in attrs:
                self.check_attribute(key, attrs[key], value, where, key_line)
            elif key in blocks:
                self.check_nested(key, blocks[key], value, where, key_line)
            else:
                kind = "block type" if is_block_list(value) else "argument"
                self.add(key_line, f'{where}: unsupported {kind} "{key}".'
                         + did_you_mean(key, list(attrs) + list(blocks)))
        self.check_required(attrs, blocks, body, dynamic_names, where, line)

    def check_attribute(self, key, attr, value, where, line) -> None:
        if is_block_list(value) and not accepts_block_syntax(attr):
            self.add(line, f'{where}: "{key}" is an argument, not a block: write {key} = ...')
        elif is_computed_only(attr):
            self.add(line, f'{where}: "{key}" is computed by the provider and cannot be set')

    def check_nested(self, key, nested, value, where, line) -> None:
        if not is_block_list(value):
            self.add(line, f'{where}: "{key}" is a block, not an argument: write {key} {{ ... }}')
            return
        max_items = nested.get("max_items")
        if max_items and len(value) > max_items:
            self.add(line, f'{where}: at most {max_items} "{key}" block(s) allowed, found {len(value)}')
        for element in value:
            self.check(nested["block"], element, f"{where}.{key}", line, top=False)

    def check_dynamic(self, value, blocks, attrs, where, line) -> None:
        for entry in value if isinstance(value, list) else []:
            for label, dyn in body_items(entry):
                name = unquote_label(label)
                dyn_line = self.lines.key("dynamic", line)
                if name not in blocks:
                    self.add(dyn_line, f'{where}: unsupported block type "{name}" in dynamic block.'
                             + did_you_mean(name, list(attrs) + list(blocks)))
                    continue
                for content in dyn.get("content", []) if isinstance(dyn, dict) else []:
                    if isinstance(content, dict):
                        self.check(blocks[name]["block"], content, f"{where}.{name}", dyn_line,
                                   top=False)

    @staticmethod
    def dynamic_block_names(body: dict) -> set[str]:
        names = set()
        for entry in body.get("dynamic", []) if isinstance(body.get("dynamic"), list) else []:
            names.update(unquote_label(k) for k, _ in body_items(entry))
        return names

    def check_required(self, attrs, blocks, body, dynamic_names, where, line) -> None:
        for name, attr in attrs.items():
            if attr.get("required") and name not in body:
                self.add(line, f'{where}: missing required argument "{name}"')
        for name, nested in blocks.items():
            if nested.get("min_items", 0) > 0 and name not in body and name not in dynamic_names:
                self.add(line, f'{where}: missing required block "{name}"')


# --- references ------------------------------------------------------------------------------


def iter_strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if not k.startswith("__"):
                yield k  # object keys can be expressions too: { (aws_x.y.id) = 1 }
                yield from iter_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_strings(v)


def check_references(file: str, parsed: dict, lines: LineFinder, findings: list[Finding]) -> None:
    seen = set()
    for text in iter_strings(parsed):
        if "aws_" not in text:
            continue
        for m in REFERENCE_RE.finditer(text):
            is_data, type_name, attr = bool(m.group(1)), m.group(2), m.group(4)
            schema = block_schema("data" if is_data else "resource", type_name)
            if schema is None or attr in schema.get("attributes", {}) \
                    or attr in schema.get("block_types", {}):
                continue  # unknown types are reported where they are declared
            key = (m.group(0), attr)
            if key in seen:
                continue
            seen.add(key)
            address = f"{'data.' if is_data else ''}{type_name}.{m.group(3)}"
            candidates = list(schema.get("attributes", {})) + list(schema.get("block_types", {}))
            findings.append(Finding(
                file, lines.text(m.group(0)),
                f'{address}: unsupported attribute "{attr}" (not in the {type_name} schema).'
                + did_you_mean(attr, candidates)))


# --- entry points ----------------------------------------------------------------------------


def check_module(parsed_files: Mapping[str, dict],
                 texts: Mapping[str, str] | None = None) -> list[Finding]:
    """Findings for one module: {file name: hcl2.loads(text)}, plus texts for line numbers."""
    findings: list[Finding] = []
    for file in sorted(parsed_files):
        parsed = parsed_files[file]
        lines = LineFinder((texts or {}).get(file))
        checker = BlockChecker(file, lines, findings)
        for kind, key in (("resource", "resource_schemas"), ("data", "data_source_schemas")):
            for type_name, name, body in labelled_blocks(parsed, kind):
                if not type_name.startswith("aws_"):
                    continue  # other providers are not in this schema
                line = body.get("__start_line__") or lines.header(kind, type_name, name)
                address = f"{'data.' if kind == 'data' else ''}{type_name}.{name}"
                entry = type_entry(key, type_name)
                if entry is None:
                    label = "resource type" if kind == "resource" else "data source"
                    findings.append(Finding(file, line, f'{address}: unknown {label} "{type_name}".'
                                            + did_you_mean(type_name, load_schema()[key])))
                    continue
                checker.check(entry["block"], body, address, line, top=True)
                if kind == "resource":
                    check_replacement_names(entry["block"], body, address, file, line, findings)
                    if type_name == "aws_db_parameter_group":
                        check_static_parameters(body, address, file, line, findings)
                    if type_name == "aws_db_instance":
                        check_replica_key(body, address, file, line, findings)
                    if type_name == "aws_ecs_service":
                        check_failure_detection(body, address, file, line, findings)
                    if type_name == "aws_elasticache_user":
                        check_iam_user(body, address, file, line, findings)
                    if type_name == "aws_ecr_repository_creation_template":
                        check_creation_template_role(body, address, file, line, findings)
                    if type_name == "aws_elasticache_replication_group":
                        check_user_group_encryption(body, address, file, line, findings)
        check_references(file, parsed, lines, findings)
    check_user_groups(parsed_files, texts or {}, findings)
    check_provider_floor(parsed_files, texts or {}, findings)
    return findings


# PostgreSQL parameters RDS applies only at a reboot ("static" in describe-db-parameters); RDS
# refuses the provider's default apply_method, immediate, for them (InvalidParameterCombination).
STATIC_POSTGRES_PARAMETERS = {
    "autovacuum_max_workers", "max_connections", "max_locks_per_transaction", "max_prepared_transactions",
    "max_wal_senders", "max_worker_processes", "shared_buffers", "shared_preload_libraries",
    "track_activity_query_size", "wal_buffers",
}


def check_static_parameters(body: dict, address: str, file: str, line: int, findings: list[Finding]) -> None:
    for parameter in body.get("parameter", []) if isinstance(body.get("parameter"), list) else []:
        name = unquote_label(str(parameter.get("name", "")))
        if name in STATIC_POSTGRES_PARAMETERS and parameter.get("apply_method") != '"pending-reboot"':
            findings.append(Finding(file, line, f'{address}: {name} is a static parameter: RDS refuses it unless '
                                                'apply_method = "pending-reboot"'))


def check_replica_key(body: dict, address: str, file: str, line: int, findings: list[Finding]) -> None:
    """A read replica in its source's region is encrypted with the source's key; RDS refuses one
    given a key (CreateDBInstanceReadReplica: "Your request does not require the KMS key
    parameter"). Only a replica in another region (`region` set) names a key of that region."""
    if "replicate_source_db" in body and "kms_key_id" in body and "region" not in body:
        findings.append(Finding(file, line, f"{address}: a read replica in its source's region takes the source's "
                                            "KMS key; RDS refuses kms_key_id for one"))


def _blocks_of(body: dict, name: str) -> list[dict]:
    found = body.get(name)
    return [block for block in found if isinstance(block, dict)] if isinstance(found, list) else []


def check_failure_detection(body: dict, address: str, file: str, line: int, findings: list[Finding]) -> None:
    """A service whose new tasks never become healthy keeps retrying them unless its deployment
    circuit breaker stops and rolls it back. ECS runs the circuit breaker for its own deployment
    controller, rolling and blue/green strategies alike ("Amazon ECS deployment failure
    detection"), and refuses it for the CODE_DEPLOY and EXTERNAL controllers."""
    controllers = [unquote_label(str(block.get("type", '"ECS"')))
                   for block in _blocks_of(body, "deployment_controller")]
    if any(controller != "ECS" for controller in controllers):
        if _blocks_of(body, "deployment_circuit_breaker"):
            findings.append(Finding(file, line, f"{address}: ECS refuses a deployment circuit breaker with the "
                                                f"{controllers[0]} deployment controller"))
        return
    breaker = _blocks_of(body, "deployment_circuit_breaker")
    if not breaker or breaker[0].get("enable") is not True or breaker[0].get("rollback") is not True:
        findings.append(Finding(file, line, f"{address}: no deployment circuit breaker with rollback: a deployment "
                                            "whose tasks never become healthy would go on replacing them; set "
                                            "deployment_circuit_breaker { enable = true, rollback = true }"))


def check_creation_template_role(body: dict, address: str, file: str, line: int, findings: list[Finding]) -> None:
    """ECR creates repositories from a creation template with its service-linked role, which may
    only create them: a template that encrypts with KMS or tags what it creates needs a custom
    role (custom_role_arn), or replication and pull-through cache fail to create the repository
    ("Amazon ECR repository creation templates": KMS keys and resource tags need a custom role)."""
    kms = any(unquote_label(str(block.get("encryption_type", ""))) == "KMS"
              for block in _blocks_of(body, "encryption_configuration"))
    if (kms or body.get("resource_tags")) and not body.get("custom_role_arn"):
        findings.append(Finding(file, line, f"{address}: a repository creation template with KMS encryption or "
                                            "resource tags needs custom_role_arn (a role ECR assumes that may create, "
                                            "tag and encrypt repositories)"))


def check_iam_user(body: dict, address: str, file: str, line: int, findings: list[Finding]) -> None:
    """ElastiCache signs an IAM user in by its user id, so it refuses an IAM user whose user_name
    differs from its user_id."""
    iam = any(unquote_label(str(mode.get("type", ""))) == "iam" for mode in _blocks_of(body, "authentication_mode"))
    if iam and body.get("user_name") != body.get("user_id"):
        findings.append(Finding(file, line, f"{address}: an IAM-authenticated ElastiCache user needs user_name equal "
                                            "to user_id"))


def check_user_group_encryption(body: dict, address: str, file: str, line: int, findings: list[Finding]) -> None:
    """Users sign in over TLS only: ElastiCache refuses a user group on a replication group
    without encryption in transit."""
    if body.get("user_group_ids") and body.get("transit_encryption_enabled") is not True:
        findings.append(Finding(file, line, f"{address}: a user group (user_group_ids) needs "
                                            "transit_encryption_enabled = true"))


_USER_ID = re.compile(r"^\$\{aws_elasticache_user\.([A-Za-z_][\w-]*)\.user_id\}$")


def check_user_groups(parsed_files: Mapping[str, dict], texts: Mapping[str, str], findings: list[Finding]) -> None:
    """ElastiCache refuses a user group without a user named default (what a connection is
    before it signs in). The users are looked up in the same module, by reference."""
    users = {name: body for parsed in parsed_files.values()
             for type_name, name, body in labelled_blocks(parsed, "resource") if type_name == "aws_elasticache_user"}
    for file in sorted(parsed_files):
        lines = LineFinder(texts.get(file))
        for type_name, name, body in labelled_blocks(parsed_files[file], "resource"):
            if type_name != "aws_elasticache_user_group" or not isinstance(body.get("user_ids"), list):
                continue
            named = [_USER_ID.match(str(ref)) for ref in body["user_ids"]]
            if not all(named):
                continue  # ids from elsewhere: nothing to look up here
            if not any(unquote_label(str(users.get(m.group(1), {}).get("user_name", ""))) == "default" for m in named):
                line = body.get("__start_line__") or lines.header("resource", type_name, name)
                findings.append(Finding(file, line, f"{type_name}.{name}: ElastiCache refuses a user group without "
                                                    'a user whose user_name is "default"'))


def check_replacement_names(schema: dict, body: dict, address: str, file: str, line: int,
                            findings: list[Finding]) -> None:
    """create_before_destroy creates the replacement while the old resource still exists; a
    fixed `name` that AWS keeps unique then collides with the old one ("already exists"), and
    the apply fails. Where the type takes `name_prefix`, AWS makes each name unique."""
    lifecycle = body.get("lifecycle")
    replaces_first = any(isinstance(block, dict) and block.get("create_before_destroy") is True
                         for block in (lifecycle if isinstance(lifecycle, list) else []))
    if replaces_first and "name" in body and "name_prefix" in schema.get("attributes", {}):
        findings.append(Finding(file, line, f"{address}: a fixed name with create_before_destroy: a replacement "
                                            "would collide with the old name; use name_prefix"))


# --- the oldest provider a module admits ------------------------------------------------------


@dataclass(frozen=True)
class Since:
    """An argument (or nested block) of a resource type, or one value of it, that the provider
    added in `version`: a release older than that refuses it at plan time ("Unsupported
    argument", or its validator's "expected ... to be one of")."""
    type_name: str  # "*": every resource type
    path: tuple[str, ...]  # argument or nested blocks, from the resource's body
    version: tuple[int, int, int]
    change: str  # the provider's CHANGELOG entry
    value: str | None = None  # only where the argument holds this string literal


# What the templates use that is newer than hashicorp/aws 6.0.0. The schema above is 6.25.0's and
# accepts all of it, so the floor of required_providers is checked against this table instead:
# add a row with the release whenever a template starts using something a CHANGELOG entry
# after 6.0.0 added.
NEWER_ARGUMENTS: tuple[Since, ...] = (
    Since("*", ("region",), (6, 0, 0), "6.0.0: per-resource `region` argument"),
    Since("aws_ecs_service", ("deployment_configuration",), (6, 4, 0),
          "6.4.0: resource/aws_ecs_service: Add `deployment_configuration` argument (#43434)"),
    Since("aws_ecs_service", ("load_balancer", "advanced_configuration"), (6, 4, 0),
          "6.4.0: resource/aws_ecs_service: Add `load_balancer.advanced_configuration` argument (#43434)"),
    Since("aws_ecr_repository", ("image_tag_mutability_exclusion_filter",), (6, 8, 0),
          "6.8.0: resource/aws_ecr_repository: Add `image_tag_mutability_exclusion_filter` argument (#43642)"),
    Since("aws_ecr_repository", ("image_tag_mutability",), (6, 8, 0),
          "6.8.0: resource/aws_ecr_repository: Support `IMMUTABLE_WITH_EXCLUSION` and `MUTABLE_WITH_EXCLUSION` "
          "as valid values for `image_tag_mutability` (#43642)", value="IMMUTABLE_WITH_EXCLUSION"),
)

_VERSION = re.compile(r"^\s*(~>|>=|>|=)?\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$")


def lowest_admitted(constraint: str) -> tuple[int, int, int] | None:
    """The oldest release a version constraint admits ("~> 6.8" and ">= 6.8, < 7.0": 6.8.0), or
    None when it sets no lower bound."""
    lowest = None
    for clause in constraint.split(","):
        match = _VERSION.match(clause)
        if match and match[1] != ">":
            found = (int(match[2]), int(match[3] or 0), int(match[4] or 0))
            lowest = max(lowest or found, found)
    return lowest


def _under(body: dict, path: tuple[str, ...]) -> list:
    """The values at `path` in a body: arguments, nested blocks and dynamic blocks' content."""
    if not path:
        return [body]
    found = []
    value = body.get(path[0])
    blocks = value if is_block_list(value) else []
    if value is not None and not blocks:
        return [value] if len(path) == 1 else []
    for dynamic in _blocks_of(body, "dynamic"):
        blocks += [content for label, named in dynamic.items() if unquote_label(label) == path[0]
                   for content in named.get("content", [])]
    for block in blocks:
        found += _under(block, path[1:])
    return found


def _declared_aws(parsed_files: Mapping[str, dict]) -> tuple[str, str] | None:
    """(file, constraint) of the module's required_providers entry for aws."""
    for file in sorted(parsed_files):
        for terraform in parsed_files[file].get("terraform", []):
            for providers in _blocks_of(terraform, "required_providers"):
                aws = providers.get("aws")
                if isinstance(aws, dict) and isinstance(aws.get("version"), str):
                    return file, unquote_label(aws["version"])
    return None


def check_provider_floor(parsed_files: Mapping[str, dict], texts: Mapping[str, str],
                         findings: list[Finding]) -> None:
    """Every use of NEWER_ARGUMENTS needs a required_providers constraint whose oldest admitted
    release has it; otherwise `terraform init` may pick that older release, and the plan fails."""
    declared = _declared_aws(parsed_files)
    if declared is None:
        return  # a module without versions.tf: the cross-references report it
    versions_file, constraint = declared
    floor = lowest_admitted(constraint)
    for file in sorted(parsed_files):
        lines = LineFinder(texts.get(file))
        for type_name, name, body in labelled_blocks(parsed_files[file], "resource"):
            for since in NEWER_ARGUMENTS:
                if since.type_name not in ("*", type_name) or (floor is not None and floor >= since.version):
                    continue
                values = _under(body, since.path)
                if since.value is not None:
                    values = [v for v in values if isinstance(v, str) and f'"{since.value}"' in v]
                if values:
                    what = ".".join(since.path) + (f" = {since.value}" if since.value else "")
                    findings.append(Finding(file, lines.header("resource", type_name, name), (
                        f"{type_name}.{name}: {what} needs hashicorp/aws >= {'.'.join(map(str, since.version))} "
                        f"({since.change}), but {versions_file} admits {constraint!r}")))
