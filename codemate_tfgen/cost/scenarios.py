"""The cost scenarios: the design document's optimizations ("비용 최적화 전략") in its order.
A module of its own so the CLI offers them without importing the cost model."""

from __future__ import annotations

OPTIMIZATIONS = ("free_tier", "nat_instance", "reserved_instances", "vpc_endpoints", "log_filtering",
                 "ai_caching", "scale_in")
# What `tfgen cost --scenario` takes.
SCENARIOS = ("baseline", "optimized", *OPTIMIZATIONS)
