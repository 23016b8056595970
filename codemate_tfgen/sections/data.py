"""Data and storage: RDS PostgreSQL, ElastiCache Redis and the S3 buckets
("데이터베이스 및 캐시", "스토리지", "주요 참고사항 > 2. 데이터베이스 백업 전략")."""

from __future__ import annotations

from typing import Any

from codemate_tfgen.sections.base import root_output, root_variable
from codemate_tfgen.spec import Spec

TITLE = "Data and storage"

# Elastic Load Balancing accounts that write ALB access logs, by region. Regions opened after
# August 2022 have none and use the logdelivery.elasticloadbalancing.amazonaws.com principal.
ELB_LOG_ACCOUNTS = {
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "us-east-1": "127311923021",
    "us-west-2": "797873946194",
}

DATABASE_TYPE = """object({
  engine_version        = string
  instance_class        = string
  allocated_storage     = number
  max_allocated_storage = optional(number)
  multi_az              = bool
  backup_retention_days = number
  backup_window         = string
  maintenance_window    = string
  database_name         = string
  deletion_protection   = bool
})"""

CACHE_TYPE = """object({
  engine_version          = string
  node_type               = string
  cluster_mode            = bool
  num_shards              = number
  replicas_per_shard      = number
  snapshot_retention_days = number
})"""


def variables(spec: Spec) -> list[dict[str, Any]]:
    data = spec.data
    return [
        root_variable("database", "RDS PostgreSQL: version, size, storage autoscaling ceiling, Multi-AZ, "
                      "backups, windows (UTC), protection", DATABASE_TYPE, data["database"]),
        root_variable("cache", "ElastiCache Redis: version, node type, cluster mode, shards, replicas, "
                      "snapshot retention", CACHE_TYPE, data["cache"]),
        root_variable("cors_allowed_origins", "Origins the user files bucket accepts browser requests from",
                      "list(string)", data["storage"]["cors_allowed_origins"]),
        root_variable("elb_log_account_id", "Elastic Load Balancing account writing ALB access logs in the "
                      "region (null where the service principal is used)", "string",
                      ELB_LOG_ACCOUNTS.get(data["region"])),
    ]


def outputs(spec: Spec) -> list[dict[str, Any]]:
    return [
        root_output("rds_endpoint", "Connection endpoint of the database, host:port", "module.rds.endpoint"),
        root_output("rds_master_user_secret_arn", "Secrets Manager secret holding the RDS master credentials",
                    "module.rds.master_user_secret_arn"),
        root_output("redis_endpoint", "Redis endpoint, host:port (the configuration endpoint in cluster mode)",
                    '"${module.elasticache.endpoint_address}:${module.elasticache.port}"'),
        root_output("files_bucket_name", "Name of the user files bucket", "module.s3.files_bucket_name"),
        root_output("static_bucket_name", "Name of the static assets bucket", "module.s3.static_bucket_name"),
        root_output("logs_bucket_name", "Name of the logs archive bucket", "module.s3.logs_bucket_name"),
        root_output("rds_security_group_id", "ID of the RDS security group",
                    "module.security_groups.rds_security_group_id"),
        root_output("redis_security_group_id", "ID of the ElastiCache security group",
                    "module.security_groups.redis_security_group_id"),
    ]
