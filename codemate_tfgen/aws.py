"""Facts about AWS that the spec rules and the context both need: one place for each.

Nothing here reads a spec; these are AWS's own numbers, with where they come from.
"""

from __future__ import annotations

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

# Memory of the RDS instance classes, GiB, which sizes the max_connections the parameter group
# sets; the spec rules refuse a class missing here.
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
    """RDS's PostgreSQL formula, LEAST(memory / 9531392, 5000), on the class's nominal memory.

    RDS's own default applies it to DBInstanceClassMemory, which is below the nominal memory by
    an amount it does not publish (db.t4g.micro reports about 80 rather than 112), so an alarm
    at 80 % of the nominal figure could sit above the real limit and never fire. The parameter
    group sets this number instead, and the alarm's share is of a known limit."""
    memory = RDS_INSTANCE_MEMORY_GIB[instance_class] * 1024**3
    return min(memory // 9531392, 5000)
