"""Delivery: the CodePipeline of the environment and, where the spec enables it, CloudFront
("CI/CD 파이프라인", "CloudFront (선택사항)")."""

from __future__ import annotations

from typing import Any

from codemate_tfgen.sections.base import root_output, root_variable
from codemate_tfgen.spec import Spec

TITLE = "Delivery"

CICD_TYPE = """object({
  repository      = string
  branch          = string
  manual_approval = bool
})"""

CDN_TYPE = """object({
  price_class = string
})"""


def variables(spec: Spec) -> list[dict[str, Any]]:
    cicd = spec.data["cicd"]
    cdn = spec.data["cdn"]
    found = [
        root_variable("cicd", "Pipeline source (GitHub owner/name and branch) and whether a release waits "
                      "for manual approval before deploy", CICD_TYPE,
                      {key: cicd[key] for key in ("repository", "branch", "manual_approval")}),
    ]
    # Without CloudFront the environment has no CDN settings at all, not unused ones.
    if cdn["enabled"]:
        found.append(root_variable("cdn", "CloudFront distribution settings", CDN_TYPE,
                                   {"price_class": cdn["price_class"]}))
    return found


def outputs(spec: Spec) -> list[dict[str, Any]]:
    found = [
        root_output("pipeline_name", "Name of the CodePipeline pipeline", "module.codepipeline.pipeline_name"),
        root_output("codestar_connection_arn",
                    "ARN of the GitHub connection; complete the handshake once in the console "
                    "(Developer Tools > Settings > Connections) before the first pipeline run",
                    "module.codepipeline.codestar_connection_arn"),
    ]
    if spec.data["cdn"]["enabled"]:
        found += [
            root_output("cloudfront_domain_name", "CloudFront domain name of the distribution",
                        "module.cloudfront.domain_name"),
            root_output("cloudfront_distribution_id", "ID of the CloudFront distribution (for invalidations)",
                        "module.cloudfront.distribution_id"),
        ]
    return found
