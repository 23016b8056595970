"""What AWS reports after an apply: rules the stand-in follows when Terraform refreshes or reads.

    world = (World()
             .resource("aws_ecs_service", where={"name": "app"}, report={"task_definition": "app:2"})
             .data("aws_ecs_task_definition", where={"task_definition": "app"}, report={"revision": 2}))
    result = run_terraform(root, apply=True, world=world)
    result.second_plan.actions   # {"aws_ecs_service.app": "update", ...}

A rule applies to every object of its type whose top-level values equal all of `where`: a
resource's state as Terraform refreshes it (ReadResource), a data source's result
(ReadDataSource, `where` may name its arguments).  The object then reports the `report`
values instead of its own, as if something outside Terraform had changed it.  The run
activates the world only between the apply and the second plan; a rule that matched
nothing is reported as an error, so a typo cannot make a test pass.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Rule:
    kind: str  # "resource" | "data"
    type_name: str
    where: dict
    report: dict

    def matches(self, kind: str, type_name: str, obj) -> bool:
        return (kind, type_name) == (self.kind, self.type_name) and isinstance(obj, dict) and all(
            obj.get(k) == v for k, v in self.where.items())

    def __str__(self) -> str:
        return f"{self.kind} {self.type_name} where {json.dumps(self.where, sort_keys=True)}"


@dataclass
class World:
    rules: list[Rule] = field(default_factory=list)

    def resource(self, type_name: str, where: dict, report: dict) -> World:
        """Resources of `type_name` matching `where` report `report` when refreshed."""
        self.rules.append(Rule("resource", type_name, dict(where), dict(report)))
        return self

    def data(self, type_name: str, where: dict, report: dict) -> World:
        """Data sources of `type_name` matching `where` read `report` on top of their result."""
        self.rules.append(Rule("data", type_name, dict(where), dict(report)))
        return self

    def to_json(self) -> str:
        return json.dumps([asdict(r) for r in self.rules])

    @classmethod
    def from_json(cls, text: str) -> World:
        return cls([Rule(**r) for r in json.loads(text)])

    def overlay(self, kind: str, type_name: str, obj) -> tuple[object, set[int]]:
        """`obj` as the world reports it, and the indexes of the rules that matched."""
        hits = {i for i, rule in enumerate(self.rules) if rule.matches(kind, type_name, obj)}
        if hits:
            obj = dict(obj)
            for i in sorted(hits):
                obj.update(self.rules[i].report)
        return obj, hits
