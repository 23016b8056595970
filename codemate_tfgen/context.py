"""Build context: turn a validated spec into the values the templates render.

Everything an environment's root module needs is decided here, once: the root variables
(declared in variables.tf and set in terraform.tfvars from the same list, so the two cannot
drift), the root outputs and the backend. Each section of the infrastructure contributes its
own variables, outputs and module calls; templates only lay these values out.
"""

from __future__ import annotations

from typing import Any

from codemate_tfgen.sections import application, data, delivery, monitoring, network, security
from codemate_tfgen.sections.base import root_variable
from codemate_tfgen.spec import Spec

VERSIONS = {"terraform": ">= 1.10", "aws": "~> 6.0"}
SECTIONS = (network, data, application, monitoring, delivery, security)


def _environment_variables(spec: Spec) -> list[dict[str, Any]]:
    data = spec.data
    return [
        root_variable("environment", "Environment name", "string", spec.name),
        root_variable("project", "Project name, the prefix of resource names", "string", data["project"]),
        root_variable("aws_region", "AWS region of the environment", "string", data["region"]),
        root_variable("tags", "Tags added to every resource besides the provider default tags",
                      "map(string)", data.get("tags", {})),
    ]


def build_context(spec: Spec) -> dict[str, Any]:
    groups = [("Environment", _environment_variables(spec))]
    groups += [(section.TITLE, section.variables(spec)) for section in SECTIONS]
    variables = [dict(v, group=title) for title, members in groups for v in members]
    outputs = [o for section in SECTIONS for o in section.outputs(spec)]
    return {
        "env": spec.name,
        "spec": spec.data,
        "sources": spec.sources,
        "backend": spec.data["backend"],
        "versions": VERSIONS,
        "sections": [section.__name__.rsplit(".", 1)[1] for section in SECTIONS],
        "variables": variables,
        "outputs": outputs,
    }
