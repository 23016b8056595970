"""Render: produce the whole generated tree in memory, as {relative path: text}.

Modules are environment-agnostic and rendered once from templates/modules/**; each
environment's root module is rendered from templates/environments/ with that environment's
context. Nothing here touches the output directory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
import yaml

from codemate_tfgen import cache as user_cache
from codemate_tfgen import hcl
from codemate_tfgen.errors import TemplateMistake
from codemate_tfgen.layout import DESTROYED_RECORD, ROOT
from codemate_tfgen.project import OUT
from codemate_tfgen.render import readme, shapes, shell
from codemate_tfgen.render.context import CI_TERRAFORM, VERSIONS, Context, apply_order
from codemate_tfgen.spec.baseline import DETECTOR, ECR_REPLICATION, OIDC_PROVIDER, baseline_move
from codemate_tfgen.spec.load import closest, display_path

ENV_FILES = ("main.tf", "variables.tf", "outputs.tf", "providers.tf", "backend.tf", "terraform.tfvars")


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_code(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined whose error for a missing attribute or key names the closest one there is."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        found, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint is not None or found is jinja2.utils.missing or not isinstance(name, str):
            return super()._undefined_message
        if isinstance(found, dict):
            names, message = list(found), f"a mapping without the key {name!r}"
        else:
            names = [n for n in dir(found) if not n.startswith("_")]
            message = f"a {type(found).__name__} has no attribute {name!r}"
        close = closest(name, [n for n in names if isinstance(n, str)])
        return message + (f"; did you mean {close!r}?" if close else "")


# How templates compile; part of the bytecode cache's key, since Jinja keys entries by source alone.
_JINJA_OPTIONS: dict[str, Any] = {
    "undefined": _Undefined,
    "keep_trailing_newline": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "autoescape": False,
}


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates in the user cache (compiling is a fifth of a render). Jinja checks each
    entry against the checksum of the template source; an unreadable or damaged entry is a miss."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # marshal raises several kinds on a damaged file
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except Exception:
            pass

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        """By template name alone, not its path: Jinja checks each entry against the checksum of
        the source it loads, and so every project (and every copy of one) shares the entries of
        the templates it has in common."""
        return super().get_cache_key(name)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    folder = user_cache.directory("jinja", user_cache.fingerprint("jinja2"),
                                  repr(sorted(_JINJA_OPTIONS.items())))
    return _BytecodeCache(str(folder)) if folder else None


@lru_cache(maxsize=4)  # a process renders one project's templates, or a few (tests)
def environment(templates: Path) -> jinja2.Environment:
    """The Jinja environment of a templates folder; every filter a template may use is registered here."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        bytecode_cache=_bytecode_cache(),
        **_JINJA_OPTIONS,
    )
    for name, function in {"hcl": hcl.value, "hcl_key": hcl.key_name, "sh": shell.quote, "md": _md,
                           "md_code": _md_code}.items():
        env.filters[name] = _defined(function)
    return env


def _defined(function: Any) -> Any:
    """A filter that reports an undefined value as Jinja does (the name a template got wrong),
    rather than failing on a value it has no form for."""

    def apply(value: Any, *args: Any) -> Any:
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()
        return function(value, *args)

    return apply


@dataclass(frozen=True)
class Module:
    """A reusable module: templates/modules/<group>/<name>/ with module.yaml (description,
    provider aliases, and `spec:` when some inputs are the properties of a spec section) and
    main.tf.j2, variables.tf.j2, outputs.tf.j2."""

    path: PurePosixPath  # e.g. networking/vpc
    meta: dict[str, Any]

    @property
    def template_dir(self) -> str:
        return f"modules/{self.path}"

    @property
    def binding(self) -> shapes.Binding | None:
        spec = self.meta.get("spec")
        return shapes.Binding(spec["schema"], tuple(spec.get("omit", ()))) if spec else None

    def spec_variables(self) -> str:
        """The variable blocks of the bound inputs (variables.tf.j2 calls it where they belong)."""
        if self.binding is None:
            raise jinja2.TemplateError(f"modules/{self.path}/module.yaml binds no spec section (spec:)")
        return shapes.variable_blocks(self.binding)


def spec_arguments(found: dict[str, Module], module_path: str, source: str) -> str:
    """A module call's arguments for its bound inputs, e.g. spec_arguments(..., "database/rds",
    "var.database") gives `engine_version = var.database.engine_version`, one per input
    (`found`: the render's modules by path, which render_environment gives it)."""
    if module_path not in found or found[module_path].binding is None:
        raise jinja2.TemplateError(f"{module_path} is not a module with bound spec inputs")
    return shapes.arguments(found[module_path].binding, source)


# libyaml's parser builds the same data several times faster than PyYAML's pure-Python one;
# module.yaml needs no source locations, which is why specs (spec.py) keep the pure one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def modules(templates: Path) -> tuple[Module, ...]:
    """The modules under templates/modules, read afresh: they are the project's and may change
    between two renders of one process."""
    base = templates / "modules"
    return tuple(Module(PurePosixPath(meta_file.parent.relative_to(base).as_posix()),
                        yaml.load(meta_file.read_text("utf-8"), Loader=_YAML_LOADER))
                 for meta_file in sorted(base.glob("*/*/module.yaml")))


def header(path: PurePosixPath, sources: list[str]) -> str:
    text = (f"Generated by tfgen from {', '.join(sources)}. Do not edit by hand: "
            "change the spec or template and run `tfgen render`.")
    if path.suffix == ".md":
        return f"<!-- {text} -->"
    return f"# {text}"


def _finish(path: PurePosixPath, text: str) -> str:
    if path.suffix in (".tf", ".tfvars"):
        return hcl.fmt(text)
    return text.rstrip("\n") + "\n"


@dataclass(frozen=True)
class Origin:
    """The template line that wrote a line of a generated file (the call's line for a macro's
    output, the included template's own line for an include)."""

    template: str  # templates/<name>
    line: int

    def __str__(self) -> str:
        return f"{self.template}:{self.line}"


# While set (tracing()), every rendered file's lines get their Origin, by path: one per line,
# None for the header and blank lines. Unset, a render pays nothing for it.
_TRACE: ContextVar[dict[str, list[Origin | None]] | None] = ContextVar("tfgen_trace", default=None)


@contextmanager
def tracing() -> Iterator[dict[str, list[Origin | None]]]:
    """Record where each generated line comes from during the renders inside (tfgen explain)."""
    origins: dict[str, list[Origin | None]] = {}
    token = _TRACE.set(origins)
    try:
        yield origins
    finally:
        _TRACE.reset(token)


def _traced(template: jinja2.Template, context: dict[str, Any]) -> tuple[str, list[Origin | None]]:
    """Render like Template.render, and give each output line the template line of its first
    visible character. A chunk of output comes from the suspended frame of the innermost
    generator that yielded it (an include runs as a generator its caller holds in the local
    `gen`); Jinja's debug info maps that frame's line to the template line of an expression,
    while a run of constant text gets the line of the node before it, so its lines are found
    in the template's source from there on."""
    chunks: list[str] = []
    lines: list[Origin | None] = [None]
    stream = template.root_render_func(template.new_context(context))
    sources: dict[str, list[str]] = {}
    try:
        for chunk in stream:
            chunks.append(chunk)
            frame = _innermost(stream)
            if frame is None or "name" not in frame.f_globals:
                continue
            name, env = frame.f_globals["name"], frame.f_globals["environment"]
            line = env.get_template(name).get_corresponding_lineno(frame.f_lineno)
            constant = chunk in frame.f_code.co_consts
            if constant and name not in sources:
                sources[name] = [text.strip() for text in env.loader.get_source(env, name)[0].split("\n")]
            parts = chunk.split("\n")
            cursor = line  # a constant's lines follow one another in the source
            for index, part in enumerate(parts):
                if index:
                    lines.append(None)
                if lines[-1] is not None or not part.strip():
                    continue
                if constant:
                    line = _source_line(sources[name], cursor, part, whole=index < len(parts) - 1)
                    cursor = line + 1
                lines[-1] = Origin(f"templates/{name}", line)
    except Exception:
        template.environment.handle_exception()
    return "".join(chunks), lines


def _source_line(source: list[str], start: int, part: str, *, whole: bool) -> int:
    """The first line from `start` of a template's (stripped) source that wrote `part` of a
    constant: the same text for a whole line, else the line it begins (an expression follows)."""
    candidates = range(start, len(source) + 1)
    if whole:
        found = next((number for number in candidates if source[number - 1] == part.strip()), None)
        if found is not None:
            return found
    begin = part.lstrip()
    return next((number for number in candidates if source[number - 1].startswith(begin.rstrip() if whole else begin)),
                start)


def _innermost(stream: Any) -> Any:
    frame = stream.gi_frame
    while frame is not None:
        inner = frame.f_locals.get("gen")
        if getattr(inner, "gi_frame", None) is None or inner is stream:
            break
        stream, frame = inner, inner.gi_frame
    return frame


def _render(templates: Path, template: str, path: PurePosixPath, sources: list[str], /, **context: Any) -> str:
    """Render one file; every file opens with the header naming where it comes from (after the
    shebang of a script, which must stay the first line)."""
    trace = _TRACE.get()
    try:
        compiled = environment(templates).get_template(template)
        if trace is None:
            text, visible = compiled.render(**context), []
        else:
            # Leading blank lines go; a line's origin follows it through the header and formatting,
            # which keep the order of the visible lines (hcl.fmt drops and adds only blank ones).
            text, origins = _traced(compiled, context)
            visible = [origin for line, origin in zip(text.split("\n"), origins, strict=True) if line.strip()]
    except jinja2.TemplateError as exc:
        raise TemplateMistake([_template_mistake(templates, template, exc)]) from None
    text = text.lstrip("\n")
    shebang = ""
    if text.startswith("#!"):
        shebang, _, text = text.partition("\n")
        shebang += "\n"
        visible = visible[1:]
    finished = _finish(path, shebang + header(path, sources) + "\n\n" + text.lstrip("\n"))
    if trace is not None:
        lines = finished.split("\n")
        visible = [None] * (1 + bool(shebang)) + visible  # the shebang and header lines
        queue = iter(visible)
        trace[str(path)] = [next(queue, None) if line.strip() else None for line in lines]
    return finished


# Jinja's block tags and the tag that closes each.
_BLOCKS = ("if", "for", "macro", "call", "filter", "block", "with", "raw", "set", "autoescape", "trans")
_TAG = re.compile(r"{%-?\+?\s*(\w+)([^%]*)")


def _opened_at(source: str, block: str, before: int) -> int | None:
    """The line of the innermost `{% block %}` still open at line `before` of a template."""
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        if line > before:
            break
        tag, rest = match.groups()
        if tag in _BLOCKS and not (tag == "set" and "=" in rest):  # `{% set x = 1 %}` opens nothing
            stack.append((tag, line))
        elif tag.startswith("end") and stack and stack[-1][0] == tag[3:]:
            stack.pop()
    return next((line for tag, line in reversed(stack) if tag == block), None)


def _template_frame(exc: BaseException) -> tuple[str, int, dict[str, Any]] | None:
    """(file, line, locals) of the innermost template line running when `exc` was raised (Jinja
    rewrites tracebacks to point at template lines)."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno, tb.tb_frame.f_locals)
        tb = tb.tb_next
    return found


def _names_in_scope(found_locals: dict[str, Any], env: jinja2.Environment) -> list[str]:
    """What a template line could have named: the render's values, its loop and set variables
    (the locals of the frame Jinja rewrote to the template line), Jinja's globals."""
    return [name for name in found_locals if not name.startswith("_")] + list(env.globals)


def _template_mistake(templates: Path, template: str, exc: jinja2.TemplateError) -> str:
    """One line: template:line[:column]: what is wrong, with "did you mean" where a name is close."""
    env = environment(templates)
    message = " ".join(str(exc.message or type(exc).__name__).split()).rstrip(".")
    frame = _template_frame(exc)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        file, line = exc.filename or str(templates / (exc.name or template)), exc.lineno
        source = exc.source if exc.source is not None else Path(file).read_text("utf-8")
        unclosed = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
        opened = _opened_at(source, unclosed.group(1), line) if unclosed else None
        if unclosed and opened is not None:
            found = "the end of the template" if message.startswith("Unexpected end") else f"line {line}"
            message = (f"{{% {unclosed.group(1)} %}} is never closed: Jinja reached {found} looking for "
                       f"{{% end{unclosed.group(1)} %}}")
            line = opened
        filters = re.match(r"No (filter|test) named '(\w+)'", message)
        if filters:
            kind = filters.group(1)
            message += _did_you_mean(filters.group(2), list(env.filters if kind == "filter" else env.tests))
    elif frame is not None:
        file, line, found_locals = frame
        if isinstance(exc, jinja2.TemplateNotFound):
            message = f"{exc.name} is not a template" + _did_you_mean(str(exc.name), env.list_templates())
        undefined = re.fullmatch(r"'(\w+)' is undefined", message)
        if undefined:
            message += _did_you_mean(undefined.group(1), _names_in_scope(found_locals, env))
    else:
        file, line = str(templates / template), None
        if isinstance(exc, jinja2.TemplateNotFound):
            message = f"{exc.name} is not a template" + _did_you_mean(str(exc.name), env.list_templates())
    shown = display_path(Path(file))
    if line is None:
        return f"{shown}: {message}"
    column = _column(Path(file), line, message)
    return f"{shown}:{line}{'' if column is None else f':{column}'}: {message}"


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = closest(word, sorted(set(choices)))
    return f"; did you mean {close!r}?" if close else ""


def _column(file: Path, line: int, message: str) -> int | None:
    """Where on the line the name a message quotes (the last one before any suggestion) first appears."""
    quoted = ([None] + re.findall(r"'(\w+)'", message.split("; did you mean")[0]))[-1]
    try:
        text = file.read_text("utf-8").splitlines()[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    index = text.find(quoted) if quoted else -1
    return index + 1 if index >= 0 else None


def source_of(templates: Path, origin: Origin) -> Path:
    """The template file an Origin names (Origin.template is "templates/<name>" whatever the
    project's templates folder is called)."""
    return templates / PurePosixPath(origin.template).relative_to("templates")


def render_modules(templates: Path, found: tuple[Module, ...]) -> dict[str, str]:
    files: dict[str, str] = {}
    for module in found:
        out = ROOT / "modules" / module.path
        source = f"templates/{module.template_dir}"
        aliases = module.meta.get("provider_aliases", [])
        for name in ("main.tf", "variables.tf", "outputs.tf"):
            sources = [f"{source}/{name}.j2"] + (
                [f"{source}/module.yaml", "codemate_tfgen/spec.schema.json"]
                if name == "variables.tf" and module.binding else [])
            files[str(out / name)] = _render(templates, f"{module.template_dir}/{name}.j2", out / name, sources,
                                             spec_variables=module.spec_variables)
        files[str(out / "versions.tf")] = _render(templates, "_shared/versions.tf.j2", out / "versions.tf",
                                                  [f"{source}/module.yaml"], versions=VERSIONS,
                                                  provider_aliases=aliases)
        docs = _docs(files, out, aliases)
        call = module.path.name.replace("-", "_")
        docs["usage"] = readme.usage(call, f"../../modules/{module.path}", docs["inputs"], aliases)
        files[str(out / "README.md")] = _render(
            templates, "_shared/README.md.j2", out / "README.md",
            [f"{source}/{name}" for name in ("module.yaml", "main.tf.j2", "variables.tf.j2", "outputs.tf.j2")],
            **docs, title=f"{module.path.name} module", description=" ".join(module.meta["description"].split()))
    return files


def _docs(files: dict[str, str], out: PurePosixPath, aliases: list[str]) -> dict[str, Any]:
    """What a README lists, read back from the module's rendered files (terraform-docs' way)."""
    return {"versions": VERSIONS, "providers": readme.providers(VERSIONS, aliases),
            "resources": readme.resources(files[str(out / "main.tf")]),
            "module_calls": readme.module_calls(files[str(out / "main.tf")]),
            "inputs": readme.variables(files[str(out / "variables.tf")]),
            "outputs": readme.outputs(files[str(out / "outputs.tf")]), "usage": None}


def render_environment(templates: Path, context: Context, found: tuple[Module, ...]) -> dict[str, str]:
    out = ROOT / "environments" / context.env
    sources = context.sources
    values = context.template_values()
    values["spec_arguments"] = partial(spec_arguments, {str(module.path): module for module in found})
    files: dict[str, str] = {}
    for name in ENV_FILES:
        # A file whose template includes a folder of parts (main.tf: main/*.tf.j2) names both.
        parts = [f"templates/environments/{name.split('.')[0]}/*.tf.j2"] \
            if (templates / "environments" / name.split(".")[0]).is_dir() else []
        files[str(out / name)] = _render(templates, f"environments/{name}.j2", out / name,
                                         sources + [f"templates/environments/{name}.j2", *parts], **values)
    files[str(out / "versions.tf")] = _render(templates, "_shared/versions.tf.j2", out / "versions.tf", sources,
                                              versions=VERSIONS, provider_aliases=[])
    files[str(out / "README.md")] = _render(
        templates, "_shared/README.md.j2", out / "README.md", sources, **_docs(files, out, []),
        title=f"{context.env} environment",
        description=f"Root module of the {context.env} environment. Values come from terraform.tfvars.")
    return files


def render_shared(templates: Path, contexts: list[Context], found: tuple[Module, ...]) -> dict[str, str]:
    """The scripts, the CI workflow (templates/ci) and the top-level README: they describe every
    environment at once.

    `contexts` must be every environment's in the specs directory, whichever ones a command
    selected, so these files never change with the selection.
    """
    if not contexts:
        return {}
    contexts = sorted(contexts, key=lambda context: context.env)
    backends = {context.env: context.backend for context in contexts}
    distinct = {json.dumps(backend, sort_keys=True) for backend in backends.values()}
    scripts = sorted(p.name.removesuffix(".j2") for p in (templates / "scripts").glob("[!_]*.sh.j2"))
    context = {
        "contexts": contexts,
        "environments": [context.env for context in contexts],
        "backends": backends,
        # One set of values when all environments agree, else a case statement per environment.
        "shared_backend": next(iter(backends.values())) if len(distinct) == 1 else None,
        "versions": VERSIONS,
        "terraform_version": VERSIONS["terraform"],
        "destroyed_record": DESTROYED_RECORD,
        "modules": found,
        "scripts": scripts,
        "readme": readme,
        # How each account's baseline owner hands it over before its teardown (what validation asks).
        "baseline_moves": [baseline_move(c.env, {o.env: o.settings for o in contexts if o.account == c.account})
                           for c in contexts if c.flags.account_baseline],
        "written_in": {c.env: c.written_in for c in contexts},
        "baseline_addresses": {"detector": DETECTOR, "oidc_provider": OIDC_PROVIDER,
                               "ecr_replication": ECR_REPLICATION},
    }
    spec_sources = sorted({source for context in contexts for source in context.sources})
    files: dict[str, str] = {}
    for name in scripts:
        path = ROOT / "scripts" / name
        files[str(path)] = _render(templates, f"scripts/{name}.j2", path,
                                   spec_sources + [f"templates/scripts/{name}.j2"], **context)
    for template in sorted((templates / "ci").rglob("*.j2")):
        name = template.relative_to(templates).as_posix()
        path = ROOT / name.removesuffix(".j2")
        files[str(path)] = _render(templates, name, path, spec_sources + [f"templates/{name}"], **context,
                                   apply_order=apply_order(contexts), tree=f"{OUT}/{ROOT}",
                                   default_branch=contexts[0].settings["ci"]["default_branch"],
                                   ci_terraform_version=CI_TERRAFORM)
    path = ROOT / "README.md"
    files[str(path)] = _render(templates, "infrastructure/README.md.j2", path,
                               spec_sources + ["templates/infrastructure/README.md.j2"], **context)
    return files


def render(templates: Path, contexts: list[Context], all_contexts: list[Context] | None = None) -> dict[str, str]:
    """The shared modules, scripts and README, plus the root module of every given environment,
    from the templates folder `templates`.

    `all_contexts` (default: `contexts`) are every environment's, for the shared files.
    """
    found = modules(templates)  # read once: every part of one render sees the same modules
    files = render_modules(templates, found)
    files.update(render_shared(templates, contexts if all_contexts is None else all_contexts, found))
    for context in contexts:
        files.update(render_environment(templates, context, found))
    return dict(sorted(files.items()))
