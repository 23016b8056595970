"""Build context: turn a validated spec into the values the templates render.

Everything an environment's root module needs is decided here, once: the root variables
(declared in variables.tf and set in terraform.tfvars from the same list, so the two cannot
drift), the root outputs and the backend. Templates only lay these values out.
"""

from __future__ import annotations

from typing import Any

from codemate_tfgen.spec import Spec

VERSIONS = {"terraform": ">= 1.10", "aws": "~> 6.0"}


def RootVariable(name: str, description: str, type: str, value: Any, group: str) -> dict[str, Any]:  # noqa: N802
    """A root variable: declared without default in variables.tf, set in terraform.tfvars."""
    return {"name": name, "description": description, "type": type, "value": value, "group": group}


def RootOutput(name: str, description: str, value: str, sensitive: bool = False) -> dict[str, Any]:  # noqa: N802
    """A root output, re-exporting a module output under the same or a prefixed name."""
    return {"name": name, "description": description, "value": value, "sensitive": sensitive}


def build_context(spec: Spec) -> dict[str, Any]:
    data = spec.data
    network = data["network"]
    variables = [
        RootVariable("environment", "Environment name", "string", spec.name, "Environment"),
        RootVariable("project", "Project name, the prefix of resource names", "string", data["project"],
                     "Environment"),
        RootVariable("aws_region", "AWS region of the environment", "string", data["region"], "Environment"),
        RootVariable("tags", "Tags added to every resource besides the provider default tags", "map(string)",
                     data.get("tags", {}), "Environment"),
        RootVariable("vpc_cidr", "IPv4 CIDR block of the VPC", "string", network["vpc_cidr"], "Network"),
        RootVariable("availability_zones", "Availability zones, in the order of the subnet lists",
                     "list(string)", network["availability_zones"], "Network"),
        RootVariable("public_subnets", "CIDR blocks of the public subnets, one per availability zone",
                     "list(string)", network["public_subnets"], "Network"),
        RootVariable("private_app_subnets",
                     "CIDR blocks of the private application subnets, one per availability zone",
                     "list(string)", network["private_app_subnets"], "Network"),
        RootVariable("private_db_subnets",
                     "CIDR blocks of the private database subnets, one per availability zone",
                     "list(string)", network["private_db_subnets"], "Network"),
        RootVariable("single_nat_gateway", "Route all application subnets through one NAT gateway", "bool",
                     not network["nat"]["per_az"], "Network"),
        RootVariable("app_ports", "Container ports the ALB forwards to, keyed by service", "map(number)",
                     {"frontend": 3000, "backend": 3001}, "Network"),
    ]
    outputs = [
        RootOutput("vpc_id", "ID of the VPC", "module.vpc.vpc_id"),
        RootOutput("public_subnet_ids", "IDs of the public subnets", "module.vpc.public_subnet_ids"),
        RootOutput("private_app_subnet_ids", "IDs of the private application subnets",
                   "module.vpc.private_app_subnet_ids"),
        RootOutput("private_db_subnet_ids", "IDs of the private database subnets",
                   "module.vpc.private_db_subnet_ids"),
        RootOutput("nat_public_ips", "Public IP addresses of the NAT gateways", "module.vpc.nat_public_ips"),
        RootOutput("alb_security_group_id", "ID of the ALB security group",
                   "module.security_groups.alb_security_group_id"),
        RootOutput("ecs_security_group_id", "ID of the ECS tasks security group",
                   "module.security_groups.ecs_security_group_id"),
        RootOutput("rds_security_group_id", "ID of the RDS security group",
                   "module.security_groups.rds_security_group_id"),
        RootOutput("redis_security_group_id", "ID of the ElastiCache security group",
                   "module.security_groups.redis_security_group_id"),
    ]
    return {
        "env": spec.name,
        "spec": data,
        # Named as <specs dir>/<file> so headers do not depend on where tfgen runs.
        "sources": [f"{path.parent.name}/{path.name}" for path in spec.files],
        "backend": data["backend"],
        "versions": VERSIONS,
        "variables": variables,
        "outputs": outputs,
    }
