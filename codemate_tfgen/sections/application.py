"""Application path: ECR, ECS cluster and services, ALB, secrets, certificate and DNS
("컴퓨팅 리소스", "로드 밸런싱 및 라우팅", "스토리지 > ECR", "보안 구성", "배포 프로세스")."""

from __future__ import annotations

from typing import Any

from codemate_tfgen.sections.base import root_output, root_variable
from codemate_tfgen.spec import Spec

TITLE = "Application"

SERVICE_TYPE = """map(object({
  cpu               = number
  memory            = number
  port              = number
  health_check_path = string
  desired_count     = number
  min_count         = number
  max_count         = number
  cpu_target        = number
  memory_target     = optional(number)
}))"""

LOAD_BALANCER_TYPE = """object({
  ssl_policy            = string
  idle_timeout          = number
  deregistration_delay  = number
  healthy_threshold     = number
  unhealthy_threshold   = number
  health_check_interval = number
  deletion_protection   = bool
})"""


def variables(spec: Spec) -> list[dict[str, Any]]:
    data = spec.data
    return [
        root_variable("services", "Fargate services keyed by name: task size, port, health check, counts, "
                      "scaling targets", SERVICE_TYPE, data["services"]),
        root_variable("load_balancer", "ALB listener, target group and protection settings",
                      LOAD_BALANCER_TYPE, data["load_balancer"]),
        root_variable("dns_zone_name", "Existing Route 53 hosted zone of the app", "string",
                      data["dns"]["zone_name"]),
        root_variable("app_hostname", "Host name of the app inside the zone", "string", data["dns"]["hostname"]),
    ]


def outputs(spec: Spec) -> list[dict[str, Any]]:
    return [
        root_output("app_url", "URL of the application", "local.app_url"),
        root_output("alb_dns_name", "DNS name of the load balancer", "module.alb.dns_name"),
        root_output("ecr_frontend_url", "URL of the frontend image repository",
                    'module.ecr.repository_urls["frontend"]'),
        root_output("ecr_backend_url", "URL of the backend image repository",
                    'module.ecr.repository_urls["backend"]'),
        root_output("ecs_cluster_name", "Name of the ECS cluster", "module.ecs_cluster.cluster_name"),
        root_output("frontend_service_name", "Name of the frontend ECS service",
                    "module.frontend_service.service_name"),
        root_output("backend_service_name", "Name of the backend ECS service",
                    "module.backend_service.service_name"),
        root_output("secret_arns", "ARNs of the application secrets (values are set outside Terraform)",
                    "module.secrets.secret_arns"),
        root_output("certificate_arn", "ARN of the ACM certificate", "module.dns.certificate_arn"),
    ]
