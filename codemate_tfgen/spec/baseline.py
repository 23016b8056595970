"""Handing an account's baseline (account.baseline) to another environment before its owner's
teardown: the one account of the spec edits that validation asks for and the generated README
("Tearing down") lists with the state commands, so the two cannot disagree.

The baseline is account-level: the GuardDuty detector (AWS allows one per account and region,
and deleting it deletes its findings), the GitHub OIDC provider (IAM refuses a second for one
issuer; the other environments' roles trust it), the CloudTrail trail and, with a
disaster-recovery region, the registry's ECR replication configuration (one per registry). The
detector and the provider are imported by the new owner (the provider imports both, by detector
id and by ARN) after the old owner's state forgets them, so neither is ever deleted; a detector
is regional, so a new owner in another region creates its own there, and the old one's stays in
its region, out of any state, with its findings (AWS keeps them 90 days). The trail is
named after its environment (its `name` forces replacement) and writes to that environment's
logs bucket with its own key: the new owner creates its own, the old one's is deleted with it,
and the audit history it wrote is copied out first. The replication configuration is written by
PutReplicationConfiguration, which replaces whatever the registry holds: the new owner writes
it, and the old owner's state only has to forget it, or its destroy would empty it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The keys a move may remove from an environment's spec (edits() says which, for whom).
REMOVABLE = (("account", "baseline"), ("database", "cross_region_backup"))

# The addresses, in the owner's root, of the account-level objects that move by import.
DETECTOR = "module.account_baseline.aws_guardduty_detector.this[0]"
OIDC_PROVIDER = "module.github_oidc.aws_iam_openid_connect_provider.github[0]"
ECR_REPLICATION = "module.ecr.aws_ecr_replication_configuration.this[0]"


@dataclass(frozen=True)
class BaselineMove:
    """How the owner of an account's baseline hands it over before its teardown."""

    owner: str
    account: str
    owner_region: str
    baseline: dict[str, bool]  # the owner's account.baseline
    successor: str | None  # the environment of the account that takes it, None when there is none
    successor_region: str | None
    successor_protected: bool  # it stays (teardown: protected): it may own the trail
    owner_backup: bool  # the owner has database.cross_region_backup
    successor_backup: bool  # the successor has database.cross_region_backup

    @property
    def trail(self) -> bool:
        """Whether the account keeps a trail managed by Terraform after the move."""
        return bool(self.baseline.get("cloudtrail")) and self.successor is not None and self.successor_protected

    @property
    def copies_history(self) -> bool:
        """The owner's trail wrote audit history to its logs bucket, which its teardown deletes."""
        return bool(self.baseline.get("cloudtrail"))

    @property
    def moves_detector(self) -> bool:
        """The successor imports the owner's GuardDuty detector: one of the same region (a detector
        id is found, and imported, in its own region only)."""
        return bool(self.baseline.get("guardduty")) and self.successor_region == self.owner_region

    @property
    def hands_replication(self) -> bool:
        """The successor writes the registry's replication configuration the owner wrote."""
        return self.owner_backup and self.successor_backup

    def edits(self) -> dict[str, dict[tuple[str, ...], Any]]:
        """Per environment, the spec values to set (None: remove the key) besides the teardown's
        own (teardown: disposable and deletion protection off)."""
        if self.successor is None:
            return {self.owner: {("account", "baseline", "cloudtrail"): False}} if self.copies_history else {}
        edits: dict[str, dict[tuple[str, ...], Any]] = {
            self.owner: {("account", "baseline"): None},
            self.successor: {("account", "baseline"): {**self.baseline, "cloudtrail": self.trail}},
        }
        if self.owner_backup and not self.successor_backup:
            # Validation refuses a disaster-recovery region on an environment that does not own the
            # baseline (its images would not be replicated there).
            edits[self.owner][("database", "cross_region_backup")] = None
        return edits

    def summary(self) -> str:
        """The edits in one sentence, as validation and the README say them."""
        said = []
        for env, values in self.edits().items():
            for path, value in values.items():
                field = ".".join(path)
                said.append(f"remove {field} from {env}" if value is None
                            else f"set {field}: {_flow(value)} in {env}")
        history = ("copy the trail's audit history out of the logs bucket of "
                   f"{self.owner} (its teardown deletes it), " if self.copies_history else "")
        if self.successor is None:
            return (f"no other environment of account {self.account!r} can take account.baseline: "
                    f"{history}{'; '.join(said) or 'nothing to change'} (the detector and the GitHub OIDC provider "
                    "go with the account's last environment)")
        moved = ("the GuardDuty detector and the GitHub OIDC provider" if self.moves_detector
                 else "the GitHub OIDC provider")
        kept = (f" (the GuardDuty detector stays in {self.owner_region} out of any state, with its findings: "
                f"{self.successor} creates one in {self.successor_region})"
                if self.baseline.get("guardduty") and not self.moves_detector else "")
        return (f"hand account.baseline to {self.successor} first: {history}{', '.join(said)}, "
                f"then move {moved} into its state{kept}")


def _flow(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    return str(value)


def baseline_move(owner: str, members: Mapping[str, Mapping[str, Any]]) -> BaselineMove:
    """The move for `owner`, given every environment of its account by name with its settings
    (with defaults): the successor is one that stays (teardown: protected) if any, then one of the
    owner's region (the detector moves with its findings), then one with a disaster-recovery region
    (it can keep writing the registry's replication), then the first by name."""
    settings = members[owner]
    others = sorted((name for name in members if name != owner),
                    key=lambda name: (members[name]["teardown"] != "protected",
                                      members[name]["region"] != settings["region"],
                                      "cross_region_backup" not in members[name]["database"], name))
    successor = others[0] if others else None
    return BaselineMove(
        owner=owner, account=settings["account"]["name"], owner_region=settings["region"],
        baseline=dict(settings["account"]["baseline"]),
        successor=successor, successor_region=members[successor]["region"] if successor else None,
        successor_protected=successor is not None and members[successor]["teardown"] == "protected",
        owner_backup="cross_region_backup" in settings["database"],
        successor_backup=successor is not None and "cross_region_backup" in members[successor]["database"])
