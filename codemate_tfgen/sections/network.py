"""Network: the VPC and the security groups ("네트워크 구성", "보안 구성 > Security Groups")."""

from __future__ import annotations

from typing import Any

from codemate_tfgen.sections.base import root_output, root_variable
from codemate_tfgen.spec import Spec

TITLE = "Network"


def variables(spec: Spec) -> list[dict[str, Any]]:
    network = spec.data["network"]
    services = spec.data["services"]
    return [
        root_variable("vpc_cidr", "IPv4 CIDR block of the VPC", "string", network["vpc_cidr"]),
        root_variable("availability_zones", "Availability zones, in the order of the subnet lists",
                      "list(string)", network["availability_zones"]),
        root_variable("public_subnets", "CIDR blocks of the public subnets, one per availability zone",
                      "list(string)", network["public_subnets"]),
        root_variable("private_app_subnets",
                      "CIDR blocks of the private application subnets, one per availability zone",
                      "list(string)", network["private_app_subnets"]),
        root_variable("private_db_subnets",
                      "CIDR blocks of the private database subnets, one per availability zone",
                      "list(string)", network["private_db_subnets"]),
        root_variable("single_nat_gateway", "Route all application subnets through one NAT gateway", "bool",
                      not network["nat"]["per_az"]),
        *_nat_instance_variables(network["nat"]),
        root_variable("app_ports", "Container ports the ALB forwards to, keyed by service", "map(number)",
                      {name: service["port"] for name, service in services.items()}),
    ]


def _nat_instance_variables(nat: dict[str, Any]) -> list[dict[str, Any]]:
    """nat_mode always; the instance type only where a NAT instance exists (validate.py rejects
    instance_type with mode gateway)."""
    found = [root_variable("nat_mode", "NAT of the application subnets: gateway or instance", "string",
                           nat["mode"])]
    if nat["mode"] == "instance":
        found.append(root_variable("nat_instance_type", "EC2 instance type of the NAT instances", "string",
                                   nat["instance_type"]))
    return found


def outputs(spec: Spec) -> list[dict[str, Any]]:
    return [
        root_output("vpc_id", "ID of the VPC", "module.vpc.vpc_id"),
        root_output("public_subnet_ids", "IDs of the public subnets", "module.vpc.public_subnet_ids"),
        root_output("private_app_subnet_ids", "IDs of the private application subnets",
                    "module.vpc.private_app_subnet_ids"),
        root_output("private_db_subnet_ids", "IDs of the private database subnets",
                    "module.vpc.private_db_subnet_ids"),
        root_output("nat_public_ips", "Public IP addresses of the NAT gateways", "module.vpc.nat_public_ips"),
        root_output("alb_security_group_id", "ID of the ALB security group",
                    "module.security_groups.alb_security_group_id"),
        root_output("ecs_security_group_id", "ID of the ECS tasks security group",
                    "module.security_groups.ecs_security_group_id"),
    ]
