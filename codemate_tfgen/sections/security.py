"""Security baseline and network cost options: CloudTrail, GuardDuty, AWS Budgets and, where the
spec enables them, VPC endpoints ("주요 참고사항 > 보안 체크리스트", "비용 알람 설정",
"비용 최적화 전략 > NAT Gateway 최적화"). VPC flow logs are part of the VPC (network section)."""

from __future__ import annotations

from typing import Any

from codemate_tfgen.sections.base import root_output, root_variable
from codemate_tfgen.spec import Spec

TITLE = "Security baseline"

SECURITY_TYPE = """object({
  cloudtrail = bool
  guardduty  = bool
  flow_logs  = bool
})"""

BUDGET_TYPE = """object({
  monthly_limit_usd = number
  email             = string
})"""


def variables(spec: Spec) -> list[dict[str, Any]]:
    security = spec.data["security"]
    budget = spec.data["budget"]
    return [
        # vpc_endpoints is not a variable: without endpoints the environment has no endpoint module.
        root_variable("security", "Audit and threat detection: CloudTrail, GuardDuty, VPC flow logs",
                      SECURITY_TYPE, {key: security[key] for key in ("cloudtrail", "guardduty", "flow_logs")}),
        root_variable("budget", "Monthly cost budget in USD and the address notified at 80% forecast and "
                      "100% actual spend", BUDGET_TYPE,
                      {"monthly_limit_usd": budget["monthly_limit_usd"], "email": budget["email"]}),
    ]


def outputs(spec: Spec) -> list[dict[str, Any]]:
    return [
        root_output("cloudtrail_arn", "ARN of the CloudTrail trail (null when disabled)",
                    "module.security_baseline.cloudtrail_arn"),
        root_output("guardduty_detector_id", "ID of the GuardDuty detector (null when disabled)",
                    "module.security_baseline.guardduty_detector_id"),
    ]
