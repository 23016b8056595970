"""Facts about AWS that the spec rules and the context both need: one place for each.

Nothing here reads a spec; these are AWS's own numbers, with where they come from.
"""

from __future__ import annotations

import math

# Fargate task sizes AWS accepts: CPU units -> allowed memory in MiB ("Task CPU and memory",
# Amazon ECS developer guide).
FARGATE_MEMORY = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}

# Memory of the RDS instance classes, GiB. PostgreSQL on RDS sets
# max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000); the spec rules refuse a class
# missing here, so the alarm threshold is always computed, never guessed.
RDS_INSTANCE_MEMORY_GIB = {
    "db.t3.micro": 1, "db.t3.small": 2, "db.t3.medium": 4, "db.t3.large": 8,
    "db.t3.xlarge": 16, "db.t3.2xlarge": 32,
    "db.t4g.micro": 1, "db.t4g.small": 2, "db.t4g.medium": 4, "db.t4g.large": 8,
    "db.t4g.xlarge": 16, "db.t4g.2xlarge": 32,
    "db.m6g.large": 8, "db.m6g.xlarge": 16, "db.m6g.2xlarge": 32,
    "db.m7g.large": 8, "db.m7g.xlarge": 16, "db.m7g.2xlarge": 32,
    "db.r6g.large": 16, "db.r6g.xlarge": 32, "db.r6g.2xlarge": 64,
    "db.r7g.large": 16, "db.r7g.xlarge": 32, "db.r7g.2xlarge": 64,
}
CONNECTIONS_ALARM_SHARE = 0.8  # "DatabaseConnections > 80% of max_connections"

# Elastic Load Balancing accounts that write ALB access logs, by region. Regions opened after
# August 2022 have none and use the logdelivery.elasticloadbalancing.amazonaws.com principal.
ELB_LOG_ACCOUNTS = {
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "us-east-1": "127311923021",
    "us-west-2": "797873946194",
}


def max_connections(instance_class: str) -> int:
    """PostgreSQL's default on RDS. DBInstanceClassMemory is a little below the nominal memory
    (RDS reserves some for the OS), so the real value can be a few connections lower."""
    memory = RDS_INSTANCE_MEMORY_GIB[instance_class] * 1024**3
    return min(memory // 9531392, 5000)


def connections_threshold(instance_class: str) -> int:
    return math.floor(max_connections(instance_class) * CONNECTIONS_ALARM_SHARE)
