"""`make lint`'s IAM policy check: parliament over every role's resolved policies, with
the deploy parameters that switch every optional statement on.

Suppressed, each for its reason:
  AWS managed policies   AWS writes them (SAM attaches AWSLambdaBasicExecutionRole and
                         AWSXrayWriteOnlyAccess); this stack cannot change them.
  RESOURCE_STAR on actions that support no resource-level permissions (the Service
                         Authorization Reference lists no resource type for them), so
                         "*" is the only Resource AWS accepts.
  RESOURCE_MISMATCH on states:DescribeExecution / StopExecution: the role names a
                         Distributed Map's children by the Service Authorization
                         Reference's "labelled execution" and "labelled express" resource
                         types (execution:<machine>/<map run label>:<id>), newer than
                         parliament's data. The emulator's IAM evaluator, on the
                         Reference's own data, checks those ARNs (test_iam_enforcement).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from .deployed_policies import ACCOUNT_ID, REGION, role_policies

if TYPE_CHECKING:
    from parliament.finding import Finding

# Every Condition of the template true, so every statement is linted.
ALL_OPTIONS = {
    "JobRoleArns": f"arn:aws:iam::{ACCOUNT_ID}:role/xregion-sync-job",
    "CredentialsSecretArns": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:"
                             "xregion-sync/keys-??????",
    "ConfigBucketName": "xregion-sync-config",
}
NO_RESOURCE_LEVEL_PERMISSIONS = {
    "ec2:describeimages", "rds:describedbsnapshots",
    "logs:createlogdelivery", "logs:getlogdelivery", "logs:updatelogdelivery",
    "logs:deletelogdelivery", "logs:listlogdeliveries", "logs:putresourcepolicy",
    "logs:describeresourcepolicies", "logs:describeloggroups",
    "xray:puttracesegments", "xray:puttelemetryrecords", "xray:getsamplingrules",
    "xray:getsamplingtargets",
}


def findings() -> list[str]:
    from parliament import analyze_policy_string

    found = []
    for role, policies in sorted(role_policies(ALL_OPTIONS).items()):
        for policy in policies:
            if policy.aws_managed:
                continue
            document = {"Version": "2012-10-17", **policy.document}
            for finding in analyze_policy_string(json.dumps(document)).findings:
                if _suppressed(finding):
                    continue
                found.append(f"{role} / {policy.name}: {finding.issue} {finding.detail}")
    return found


LABELLED_EXECUTION_ACTIONS = {"states:describeexecution", "states:stopexecution"}
# The janitor lists every DB instance and cluster of a region (the drill's are found by
# name and tag among them): a listing without an identifier is authorized on "*".
LISTING_ACTIONS = {"rds:describedbinstances", "rds:describedbclusters"}
# A drill's creates are granted in several statements, one per condition: the new
# resource only with the drill tag in the request, the copy only with this tool's tag, the
# network (subnet, security group, DB subnet group) as named. parliament reads one
# statement at a time, so each lacks the others' resource types; the option and parameter
# groups it lists are never named in a drill's request. DeleteDBCluster's cluster-snapshot
# is a final snapshot, which a drill never takes (SkipFinalSnapshot).
DRILL_ACTIONS = {"rds:restoredbinstancefromdbsnapshot", "rds:restoredbclusterfromsnapshot",
                 "rds:createdbinstance", "ec2:runinstances", "rds:deletedbcluster"}


def _suppressed(finding: Finding) -> bool:
    details = finding.detail if isinstance(finding.detail, list) else [finding.detail]
    if finding.issue == "RESOURCE_STAR":
        return all(str(action).lower() in NO_RESOURCE_LEVEL_PERMISSIONS | LISTING_ACTIONS
                   for action in details)
    if finding.issue == "RESOURCE_MISMATCH":
        return all(isinstance(detail, dict) and str(detail.get("action", "")).lower()
                   in LABELLED_EXECUTION_ACTIONS | DRILL_ACTIONS for detail in details)
    return False


def main() -> int:
    problems = findings()
    for problem in problems:
        print(problem)
    roles = len(role_policies(ALL_OPTIONS))
    print(f"parliament: {len(problems)} finding(s) in the policies of {roles} roles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
