"""Amazon ECR's lifecycle policies: what PutLifecyclePolicy refuses and which images a policy expires.

The rules are AWS's (ECR User Guide, "Lifecycle policy properties" and "How lifecycle policies
work", with its examples of several rules):

- `rulePriority` values are unique; rules are evaluated from the lowest value to the highest;
- `tagStatus` is `tagged` (then exactly one of a non-empty `tagPrefixList` or `tagPatternList`),
  `untagged` or `any` (then neither); only one `any` rule, and it has the highest priority;
- `tagPrefixList` / `tagPatternList` select an image when *every* entry matches one of its tags
  (a prefix, or a pattern with up to four `*` wildcards);
- `imageCountMoreThan` keeps the `countNumber` most recently pushed of the selected images and
  marks the rest; `sinceImagePushed` (`countUnit: days`) marks those pushed more than
  `countNumber` days ago; expiry always goes by push time;
- an image a rule selects by its tags is never expired by a rule of lower priority (a higher
  rulePriority value): later rules still count it among the images they select, but skip it.

The last point is what keeps an image out of expiry: a rule that selects it and whose count it
stays within protects it from every rule after, the `any` rule included.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

MAX_WILDCARDS = 4


@dataclass
class Image:
    digest: str
    tags: set[str] = field(default_factory=set)
    pushed_at: float = 0.0  # days since the account's clock started


class PolicyError(ValueError):
    """What PutLifecyclePolicy answers with InvalidParameterException."""


def _pattern(text: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in text) + r"\Z")


def parse(text: str) -> list[dict]:
    """The rules of a policy in evaluation order, or PolicyError naming what AWS refuses."""
    try:
        rules = json.loads(text)["rules"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PolicyError(f"the policy is not JSON with a rules list: {exc}") from exc
    if not isinstance(rules, list) or not rules:
        raise PolicyError("a lifecycle policy needs at least one rule")
    priorities = [r.get("rulePriority") for r in rules]
    if len(set(priorities)) != len(priorities):
        raise PolicyError(f"rulePriority values must be unique: {priorities}")
    ordered = sorted(rules, key=lambda r: r["rulePriority"])
    for i, rule in enumerate(ordered):
        sel = rule.get("selection") or {}
        status = sel.get("tagStatus")
        lists = [k for k in ("tagPrefixList", "tagPatternList") if k in sel]
        where = f"rule {rule['rulePriority']}"
        if status == "tagged":
            if len(lists) != 1 or not sel[lists[0]]:
                raise PolicyError(f"{where}: tagStatus tagged needs exactly one of tagPrefixList and "
                                  "tagPatternList, not empty")
            if any(p.count("*") > MAX_WILDCARDS for p in sel.get("tagPatternList", [])):
                raise PolicyError(f"{where}: at most {MAX_WILDCARDS} wildcards in a tag pattern")
        elif status in ("untagged", "any"):
            if lists:
                raise PolicyError(f"{where}: tagStatus {status} takes no {lists[0]}")
            if status == "any" and i != len(ordered) - 1:
                raise PolicyError(f"{where}: a rule with tagStatus any must have the highest rulePriority")
        else:
            raise PolicyError(f"{where}: tagStatus must be tagged, untagged or any, not {status!r}")
        count_type, number = sel.get("countType"), sel.get("countNumber")
        if count_type == "imageCountMoreThan":
            if "countUnit" in sel:
                raise PolicyError(f"{where}: imageCountMoreThan takes no countUnit")
        elif count_type == "sinceImagePushed":
            if sel.get("countUnit") != "days":
                raise PolicyError(f"{where}: sinceImagePushed needs countUnit days")
        else:
            raise PolicyError(f"{where}: countType must be imageCountMoreThan or sinceImagePushed")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise PolicyError(f"{where}: countNumber must be a whole number of at least 1")
        if (rule.get("action") or {}).get("type") != "expire":
            raise PolicyError(f"{where}: the action type must be expire")
    return ordered


def selects(selection: dict, image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return not image.tags
    if "tagPrefixList" in selection:
        return all(any(t.startswith(p) for t in image.tags) for p in selection["tagPrefixList"])
    return all(any(_pattern(p).match(t) for t in image.tags) for p in selection["tagPatternList"])


def expired(policy_text: str, images: list[Image], now: float) -> list[Image]:
    """The images `policy_text` expires at time `now` (days), oldest first."""
    protected: set[str] = set()  # selected by a rule of higher priority: never expired by a later one
    doomed: dict[str, Image] = {}
    for rule in parse(policy_text):
        sel = rule["selection"]
        chosen = sorted((i for i in images if selects(sel, i)), key=lambda i: i.pushed_at, reverse=True)
        if sel["countType"] == "imageCountMoreThan":
            marked = chosen[sel["countNumber"]:]
        else:
            marked = [i for i in chosen if now - i.pushed_at > sel["countNumber"]]
        for image in marked:
            if image.digest not in protected:
                doomed.setdefault(image.digest, image)
        protected.update(i.digest for i in chosen)
    return sorted(doomed.values(), key=lambda i: i.pushed_at)
