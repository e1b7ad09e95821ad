"""AWS's quotas that the emulator enforces: one adjustable table.

The defaults are AWS's documented values; tests lower them (`emulated_aws(quotas=
AwsQuotas(history_events=200))`) to show a rule bites without building huge inputs.
Each value names the page that documents it; tests/test_emulator_quotas.py pins each.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class AwsQuotas:
    # Step Functions Developer Guide, "Step Functions service quotas" (Standard workflows):
    # "Maximum execution history size: 25,000 events. If the execution history reaches this
    # quota, the execution fails." ("Avoid reaching the history quota": event 25,000 is
    # ExecutionFailed unless it is ExecutionSucceeded.) Counted per execution ARN.
    history_events: int = 25_000
    # Same page: "Maximum input or output size for a task, state, or execution: 262,144
    # bytes of data as a UTF-8 encoded string." Exceeding it: States.DataLimitExceeded.
    payload_bytes: int = 256 * KIB
    # Step Functions API Reference, ExecutionFailedEventDetails (and every *FailedEventDetails):
    # cause "Maximum length of 32768", error "Maximum length of 256".
    failure_cause_characters: int = 32_768
    failure_error_characters: int = 256
    # Lambda Developer Guide, "Lambda quotas": invocation payload (request and response)
    # 6 MB for synchronous invokes. Step Functions' own 256 KiB applies first to a Task.
    lambda_sync_payload_bytes: int = 6 * MIB
    # RDS User Guide, "Copying a DB snapshot", Limitations: "You can have up to 20 snapshot
    # copy requests in progress to a single destination Region per account."
    rds_copies_in_progress: int = 20
    # RDS User Guide, "Quotas in Amazon RDS": "Manual DB instance snapshots: 100" per Region;
    # "After you copy a snapshot, the copy is a manual snapshot" (Copying a DB snapshot).
    rds_manual_snapshots: int = 100
    # Aurora User Guide, "DB cluster snapshot copying", Limitations: "You can have up to
    # five snapshot copy requests in progress to a single destination Region per account"
    # ("Copying a DB cluster snapshot": "up to five DB cluster snapshots at a time from one
    # AWS Region to another"). Counted per destination region, the stricter reading.
    rds_cluster_copies_in_progress: int = 5
    # Aurora User Guide, "Quotas in Amazon Aurora": "Manual DB cluster snapshots: 100" per
    # Region; "After you copy a snapshot, the copy is a manual snapshot."
    rds_manual_cluster_snapshots: int = 100
    # RDS User Guide, "Quotas in Amazon RDS": "DB instances: 40" per Region (DescribeAccount-
    # Attributes' DBInstances), "DB clusters: 40" (DBClusters); restores count as creates.
    rds_db_instances: int = 40
    rds_db_clusters: int = 40
    # EBS User Guide, "Copy an Amazon EBS snapshot": "There is a limit of 20 concurrent
    # snapshot copy requests per destination Region. If you exceed this quota, you receive a
    # ResourceLimitExceeded error." An AMI copy copies each backing snapshot ("How Amazon
    # EC2 AMI copy works"), so it holds one slot per backing snapshot until it is available.
    ebs_copies_in_progress: int = 20
    # Step Functions Developer Guide, "Choosing workflow type" / service quotas: an Express
    # workflow runs at most 5 minutes; a Distributed Map's EXPRESS children are Express
    # executions and end TIMED_OUT (States.Timeout). STANDARD children have no such limit.
    express_execution_seconds: float = 300
    # ResultWriter: Step Functions writes each status's child records to files that it splits
    # by size (SUCCEEDED_0.json, SUCCEEDED_1.json, ...). 5 GB is S3's single-PUT object limit
    # (S3 User Guide, "Uploading objects"); the split size itself was not found in the Step
    # Functions guide: an assumption, kept adjustable so a test can show the split.
    result_file_bytes: int = 5 * GIB


AWS_QUOTAS = AwsQuotas()
