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
# sets; the spec rules refuse a class missing here, and the price book may price only these.
RDS_INSTANCE_MEMORY_GIB = {
    "db.t3.micro": 1, "db.t3.small": 2, "db.t3.medium": 4, "db.t3.large": 8,
    "db.t3.xlarge": 16, "db.t3.2xlarge": 32,
    "db.t4g.micro": 1, "db.t4g.small": 2, "db.t4g.medium": 4, "db.t4g.large": 8,
    "db.t4g.xlarge": 16, "db.t4g.2xlarge": 32,
    "db.m6g.large": 8, "db.m6g.xlarge": 16, "db.m6g.2xlarge": 32,
    "db.m7g.large": 8, "db.m7g.xlarge": 16, "db.m7g.2xlarge": 32,
    "db.r6g.large": 16, "db.r6g.xlarge": 32, "db.r6g.2xlarge": 64,
    "db.r7g.large": 16, "db.r7g.xlarge": 32, "db.r7g.2xlarge": 64,
    "db.m5.large": 8, "db.m5.xlarge": 16, "db.m5.2xlarge": 32,
    "db.m6i.large": 8, "db.m6i.xlarge": 16, "db.m6i.2xlarge": 32,
    "db.r5.large": 16, "db.r5.xlarge": 32, "db.r5.2xlarge": 64,
    "db.r6i.large": 16, "db.r6i.xlarge": 32, "db.r6i.2xlarge": 64,
}


def _sizes(families: str, sizes: str) -> list[str]:
    return [f"{family}.{size}" for family in families.split() for size in sizes.split()]


# ElastiCache node types of the current generation ("Supported node types", ElastiCache user
# guide); the spec rules refuse any other, and the price book may price only these.
CACHE_NODE_TYPES = frozenset(
    _sizes("cache.t3 cache.t4g", "micro small medium")
    + _sizes("cache.m5", "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge")
    + _sizes("cache.m6g cache.m7g cache.r6g cache.r7g", "large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge")
    + _sizes("cache.r5", "large xlarge 2xlarge 4xlarge 12xlarge 24xlarge"))

# EC2 instance types for the bastion host and a NAT instance: the burstable families (t2 for its
# free tier) and the general purpose and compute families up to 4xlarge, more than either needs.
# The spec rules refuse any other, and the price book may price only these.
EC2_INSTANCE_TYPES = frozenset(
    _sizes("t2", "nano micro small medium large")
    + _sizes("t3 t3a t4g", "nano micro small medium large xlarge 2xlarge")
    + _sizes("m5 m6i m7i c5 c6i c7i", "large xlarge 2xlarge 4xlarge")
    + _sizes("m6g m7g c6g c7g", "medium large xlarge 2xlarge 4xlarge"))

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
