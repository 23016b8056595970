"""Monitoring: log groups, alarms and the dashboard ("모니터링 및 로깅")."""

from __future__ import annotations

import math
from typing import Any

from codemate_tfgen.sections.base import root_output, root_variable
from codemate_tfgen.spec import Spec

TITLE = "Monitoring"

# Memory of the RDS instance classes, GiB. PostgreSQL on RDS sets
# max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000); validate.py refuses a class
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


def max_connections(instance_class: str) -> int:
    """PostgreSQL's default on RDS. DBInstanceClassMemory is a little below the nominal memory
    (RDS reserves some for the OS), so the real value can be a few connections lower."""
    memory = RDS_INSTANCE_MEMORY_GIB[instance_class] * 1024**3
    return min(memory // 9531392, 5000)


def connections_threshold(instance_class: str) -> int:
    return math.floor(max_connections(instance_class) * CONNECTIONS_ALARM_SHARE)


def variables(spec: Spec) -> list[dict[str, Any]]:
    monitoring = spec.data["monitoring"]
    instance_class = spec.data["database"]["instance_class"]
    return [
        root_variable("log_retention_days", "Days the log groups keep their events", "number",
                      monitoring["log_retention_days"]),
        root_variable("alarm_email", "Address the alarm notifications are mailed to", "string",
                      monitoring["alarm_email"]),
        root_variable("rds_connections_alarm_threshold",
                      f"DatabaseConnections alarm threshold: 80 % of max_connections "
                      f"({max_connections(instance_class)}) of {instance_class}", "number",
                      connections_threshold(instance_class)),
    ]


def outputs(spec: Spec) -> list[dict[str, Any]]:
    return [
        root_output("log_group_names", "CloudWatch log group names keyed by component",
                    "module.cloudwatch.log_group_names"),
        root_output("alarm_topic_arn", "ARN of the SNS topic the alarms notify", "module.cloudwatch.alarm_topic_arn"),
        root_output("dashboard_name", "Name of the CloudWatch dashboard", "module.cloudwatch.dashboard_name"),
    ]
