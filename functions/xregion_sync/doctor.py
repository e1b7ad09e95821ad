"""`xregion-sync doctor`: read-only checks of a config against AWS, before the first run
and any day after. Each finding names the job, the check and, when something is wrong,
the fix.

    findings = xregion_sync.doctor("config.yaml")   # list[Finding]

Only Describe/Get/List calls, with each job's own credentials (as the in-process runner
uses them). A job with config errors gets those as findings and no AWS call. Checks:

  config          the job's config errors
  source          the source is found and unambiguous (the sync type's resolve_source)
  kms_key         kms_key_id exists in the destination, is Enabled and a symmetric
                  encryption key the credentials can describe (kms:DescribeKey)
  option_group    (rds_automated_snapshot) option_group_name exists in the destination for
                  the source DB's engine; a source DB in a non-default option group without
                  option_group_name
  source_account  (ec2_ami) a job selecting another account's AMI by tag without
                  source_role_arn (AWS shows an AMI's tags only to its owner)
  source_key      (ec2_ami) each KMS key of another account that encrypts the source
                  AMI's snapshots: named, usable (kms:DescribeKey answers, i.e. its key policy
                  lets this account use it), and with `--stack` listed in the stack's
                  SourceKmsKeyArns parameter (else Start Copy may not use it)
  manual_snapshot_quota  room under the destination's manual DB snapshot quota (and manual
                  DB cluster snapshot quota) for the RDS jobs' copies
                  (rds:DescribeAccountAttributes)
  copy_quota      jobs of one type into one destination region against AWS's copies in
                  progress (20 EBS or RDS snapshot copies, 5 RDS cluster snapshot copies):
                  the surplus is deferred to the next run
  stack           (with a deployed stack: `doctor --stack NAME`) every role and credentials
                  secret the jobs use is granted by the stack's JobRoleArns and
                  CredentialsSecretArns parameters; the alarms have a NotificationEmail

Which type has which quotas and own checks is the type's to say (COPY_QUOTAS,
DOCTOR_CHECKS in its module): a check_<name> method here runs each of its checks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sized
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from . import aws
from .config import Config, ConfigSource, load_config
from .deploy import DeployedStack, deployment_gaps
from .errors import SyncError
from .spec import ClientConfig, JobSpec
from .syncs import SYNC_TYPES, ec2_ami
from .syncs.base import GONE, CopyQuotas, Source

T = TypeVar("T")

ERROR, WARNING, OK = "error", "warning", "ok"
SEVERITIES = (ERROR, WARNING, OK)

NEAR_QUOTA_SHARE = 0.10  # warn when the room left is under the jobs' need + 10% of the quota
MAX_NAMED_JOBS = 3


@dataclass(frozen=True)
class Finding:
    """One result of one check: severity 'error', 'warning' or 'ok'; the message says
    what was found and, unless ok, how to fix it."""

    job: str
    check: str
    severity: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"job": self.job, "check": self.check, "severity": self.severity,
                "message": self.message}


def doctor(config: Config | ConfigSource, *,
           stack: DeployedStack | None = None) -> list[Finding]:
    """Check every job of `config` (a Config, a path, YAML text or a mapping) against AWS,
    reading only, and against the deployed `stack`'s parameters when given (see
    deploy.describe_stack). Raises ConfigError only when the config cannot be read at all."""
    if not isinstance(config, Config):
        config = load_config(config)
    run = _Doctor(stack)
    if stack is not None:
        gaps = deployment_gaps(config, stack.parameters)
        run.findings += [Finding(gap.job or stack.name, "stack", gap.severity, gap.message)
                         for gap in gaps]
        if not gaps:
            run.add(stack.name, "stack", OK, f"stack {stack.name} grants every role and "
                    "secret the jobs use, and its alarms notify an e-mail address")
    for entry in config.entries:
        if entry.spec is None:
            run.findings += [Finding(entry.name, "config", ERROR, error.message)
                             for error in entry.errors]
            continue
        run.check_job(entry.spec)
    run.check_manual_snapshot_quota()
    run.check_copy_quota()
    return run.findings


class _Doctor:
    def __init__(self, stack: DeployedStack | None = None) -> None:
        self.stack = stack
        self.findings: list[Finding] = []
        self.sources: dict[str, Source] = {}  # job name -> resolved source
        self.jobs: list[JobSpec] = []
        self.copy_slots: dict[str, int] = {}  # job name -> copies in progress it may hold
        self._accounts: dict[Any, str | None] = {}

    def add(self, job: str, check: str, severity: str, message: str) -> None:
        self.findings.append(Finding(job, check, severity, message))

    def attempt(self, job: JobSpec, check: str, doing: str,
                action: Callable[[], T]) -> T | None:
        """Run one read; a failure becomes an error finding (returned None)."""
        try:
            with aws.aws_errors(job.name, doing):
                return action()
        except SyncError as exc:
            self.add(job.name, check, ERROR, exc.message)
        return None

    # ---------------------------------------------------------------- per job

    def check_job(self, job: JobSpec) -> None:
        self.jobs.append(job)
        self.copy_slots[job.name] = 1
        self.check_source(job)
        if job.options.get("kms_key_id"):
            self.check_kms_key(job)
        for check in SYNC_TYPES[job.sync_type].DOCTOR_CHECKS:
            getattr(self, f"check_{check}")(job)

    def check_source(self, job: JobSpec) -> None:
        sync = SYNC_TYPES[job.sync_type]
        try:
            source = sync.resolve_source(job)
        except (SyncError, ClientError, BotoCoreError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            if f"'{job.name}'" not in message:
                message = f"job '{job.name}': {message}"
            self.add(job.name, "source", ERROR, message)
            return
        self.sources[job.name] = source
        where = f"in {job.source_region}"
        if job.sync_type == ec2_ami.NAME:
            slots = self._ami_snapshot_count(job, source["id"])
            self.copy_slots[job.name] = slots
            self.add(job.name, "source", OK, f"source AMI {source['id']} {where} "
                     f"({slots} backing snapshot{'s' if slots != 1 else ''})")
        else:
            self.add(job.name, "source", OK, f"newest automated snapshot {source['id']} "
                     f"{where}, taken {source['created']}")

    def _ami_snapshot_count(self, job: JobSpec, image_id: str) -> int:
        ec2 = aws.client(job, "ec2", job.source_region, settings=ec2_ami._source_client(job))
        try:
            with aws.aws_errors(job.name, f"describing {image_id}"):
                images = ec2_ami._describe_image(ec2, image_id)
        except SyncError:
            return 1
        mappings = images[0].get("BlockDeviceMappings") or [] if images else []
        return max(1, sum(1 for m in mappings if (m.get("Ebs") or {}).get("SnapshotId")))

    def check_kms_key(self, job: JobSpec) -> None:
        key_id = job.options["kms_key_id"]
        region = job.destination_region
        fix_key = f"set kms_key_id to a key id, ARN or alias of an enabled key in {region}"
        parts = key_id.split(":")
        if key_id.startswith("arn:") and len(parts) > 3 and parts[3] != region:
            self.add(job.name, "kms_key", ERROR, f"job '{job.name}': kms_key_id {key_id} is "
                     f"a key of {parts[3]}, but the copy is encrypted in {region}: {fix_key}")
            return
        kms = aws.client(job, "kms", region)
        key = self.attempt(job, "kms_key", f"describing KMS key {key_id} in {region}",
                           lambda: aws.unless_not_found(
                               lambda: kms.describe_key(KeyId=key_id)["KeyMetadata"],
                               "NotFoundException", None))
        if key is None:
            if not any(f.job == job.name and f.check == "kms_key" for f in self.findings):
                self.add(job.name, "kms_key", ERROR, f"job '{job.name}': KMS key {key_id} "
                         f"was not found in {region}: create it there (or a replica of a "
                         f"multi-Region key), or {fix_key}")
            return
        state, arn = key.get("KeyState"), key.get("Arn", key_id)
        managed = ("an AWS managed key" if key.get("KeyManager") == "AWS"
                   else "a customer managed key")
        if state in ("PendingDeletion", "PendingReplicaDeletion"):
            self.add(job.name, "kms_key", ERROR, f"job '{job.name}': KMS key {arn} is "
                     f"scheduled for deletion ({key.get('DeletionDate', 'date unknown')}): "
                     f"cancel the deletion (kms:CancelKeyDeletion) and enable the key, or "
                     f"{fix_key}")
        elif state != "Enabled":
            self.add(job.name, "kms_key", ERROR, f"job '{job.name}': KMS key {arn} is "
                     f"{state}, and AWS encrypts a copy only with an enabled key: enable it "
                     f"(kms:EnableKey), or {fix_key}")
        elif key.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT" or key.get(
                "KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            self.add(job.name, "kms_key", ERROR, f"job '{job.name}': KMS key {arn} is a "
                     f"{key.get('KeySpec')} key for {key.get('KeyUsage')}; copies are "
                     f"encrypted only with symmetric encryption keys: {fix_key}")
        else:
            self.add(job.name, "kms_key", OK, f"KMS key {arn} in {region} is enabled "
                     f"({managed})")

    def check_option_group(self, job: JobSpec) -> None:
        db = job.options["db_instance"]
        source_rds = aws.client(job, "rds", job.source_region)
        instances: list[dict[str, Any]] | None = self.attempt(
            job, "option_group", f"describing DB instance {db} in {job.source_region}",
            lambda: aws.unless_not_found(lambda: source_rds.describe_db_instances(
                DBInstanceIdentifier=db)["DBInstances"], "DBInstanceNotFound", []))
        if instances is None:
            return
        instance = instances[0] if instances else {}
        engine = instance.get("Engine")
        groups = [m.get("OptionGroupName") for m in instance.get("OptionGroupMemberships") or ()
                  if m.get("OptionGroupName")]
        custom = [g for g in groups if not g.startswith("default:")]
        wanted = job.options.get("option_group_name")
        region = job.destination_region
        if not wanted:
            if custom:
                self.add(job.name, "option_group", WARNING, f"job '{job.name}': DB instance "
                         f"{db} uses option group {custom[0]}, and RDS copies a snapshot "
                         f"with a non-default option group across regions only with "
                         f"OptionGroupName: create a matching option group in {region} "
                         f"(rds copy-option-group) and set option_group_name to it")
            elif instances:
                self.add(job.name, "option_group", OK, f"DB instance {db} uses the default "
                         "option group: none needed in the destination")
            return
        rds = aws.client(job, "rds", region)
        found: list[dict[str, Any]] | None = self.attempt(
            job, "option_group", f"describing option group {wanted} in {region}",
            lambda: aws.unless_not_found(lambda: rds.describe_option_groups(
                OptionGroupName=wanted)["OptionGroupsList"], "OptionGroupNotFoundFault", []))
        if found is None:
            return
        if not found:
            self.add(job.name, "option_group", ERROR, f"job '{job.name}': option group "
                     f"{wanted} was not found in {region}: create it there (rds "
                     f"copy-option-group copies {custom[0] if custom else 'the source'}'s), "
                     "or fix option_group_name")
            return
        group_engine = found[0].get("EngineName")
        if engine and group_engine and group_engine != engine:
            self.add(job.name, "option_group", ERROR, f"job '{job.name}': option group "
                     f"{wanted} in {region} is for {group_engine}, but DB instance {db} runs "
                     f"{engine}: set option_group_name to an option group for {engine}")
            return
        self.add(job.name, "option_group", OK, f"option group {wanted} exists in {region}"
                 + (f" for {group_engine}" if group_engine else ""))

    def check_source_account(self, job: JobSpec) -> None:
        owner = job.options.get("ami_owner") or "self"
        if not owner.isdigit() or len(owner) != 12:
            return
        advice = ec2_ami._other_account_advice(job)
        if not advice:
            why = ("source_role_arn is set" if job.options.get("source_role_arn")
                   else "the source is not selected by tag")
            self.add(job.name, "source_account", OK, f"AMIs of {owner}: {why}")
            return
        account = self.caller_account(job)
        if account is None:
            return
        if account == owner:
            self.add(job.name, "source_account", OK, f"ami_owner {owner} is the account "
                     "the job runs in: its AMI tags are visible")
            return
        self.add(job.name, "source_account", WARNING, f"job '{job.name}': the job runs in "
                 f"account {account} and selects AMIs of {owner} by tag; " + advice)

    def check_source_key(self, job: JobSpec) -> None:
        source = self.sources.get(job.name)
        if source is None:
            return  # the source check said why
        keys = self.attempt(job, "source_key", f"reading the keys of {source['id']}'s "
                            "snapshots", lambda: ec2_ami.source_snapshot_keys(job, source["id"]))
        if not keys:
            return
        owner = source.get("owner")
        account = self.caller_account(job)
        if account is None:
            return
        fix = (f"add its ARN to the stack's {ec2_ami.SOURCE_KMS_KEYS_PARAMETER} parameter and "
               f"have account {owner} allow account {account} to use it in the key's policy "
               "(docs/day-one.md)")
        hidden = sorted(snapshot for snapshot, key in keys.items() if key is None)
        if hidden and owner != account:
            self.add(job.name, "source_key", WARNING, f"job '{job.name}': source AMI "
                     f"{source['id']} of account {owner} has encrypted snapshots "
                     f"({', '.join(hidden)}) whose key these credentials cannot read (AWS "
                     f"shows a snapshot only to its owner and those it is shared with): ask "
                     f"account {owner} which KMS key encrypts them (or set source_role_arn "
                     f"to a role there), then {fix}")
        for key in sorted({k for k in keys.values() if k and k.split(":")[4] != account}):
            self._check_source_key(job, key, account, fix)

    def _check_source_key(self, job: JobSpec, key: str, account: str, fix: str) -> None:
        region, owner = key.split(":")[3], key.split(":")[4]
        kms = aws.client(job, "kms", region)
        try:
            with aws.aws_errors(job.name, f"describing KMS key {key}"):
                kms.describe_key(KeyId=key)
        except SyncError as exc:
            self.add(job.name, "source_key", ERROR, f"job '{job.name}': KMS key {key} of "
                     f"account {owner} encrypts the source AMI's snapshots and is not usable "
                     f"by account {account} ({exc.message}): {fix}")
            return
        stack, parameter = self.stack, ec2_ami.SOURCE_KMS_KEYS_PARAMETER
        granted = stack.parameters.get(parameter) if stack is not None else None
        if stack is None or granted is None:  # no stack, or one of an older template
            listed = ""
        elif any(fnmatchcase(key, p.strip()) for p in granted.split(",") if p.strip()):
            listed = f", listed in stack {stack.name}'s {parameter}"
        else:
            self.add(job.name, "source_key", ERROR, f"job '{job.name}': KMS key {key} of "
                     f"account {owner} encrypts the source AMI's snapshots and is usable, but "
                     f"is not in stack {stack.name}'s {parameter} parameter, so Start Copy "
                     f"may not use it (AccessDenied at copy time): redeploy with {parameter} "
                     "listing it")
            return
        self.add(job.name, "source_key", OK, f"KMS key {key} of account {owner} encrypts "
                 f"the source AMI's snapshots and is usable (kms:DescribeKey){listed}")

    def caller_account(self, job: JobSpec) -> str | None:
        if job.client not in self._accounts:
            sts = aws.client(job, "sts", job.client.region or job.source_region)
            identity = self.attempt(job, "source_account", "reading the caller's account",
                                    sts.get_caller_identity)
            self._accounts[job.client] = identity["Account"] if identity else None
        return self._accounts[job.client]

    # ---------------------------------------------------------------- per destination

    def check_manual_snapshot_quota(self) -> None:
        """One DescribeAccountAttributes per destination (and credentials); a finding per
        count quota the jobs' copies use up there (manual DB snapshots, manual DB cluster
        snapshots)."""
        by_region: dict[tuple[str, ClientConfig], list[JobSpec]] = defaultdict(list)
        for job in self.jobs:
            if SYNC_TYPES[job.sync_type].COPY_QUOTAS.account_quota:
                by_region[(job.destination_region, job.client)].append(job)
        for (region, _), jobs in by_region.items():
            first = jobs[0]
            rds = aws.client(first, "rds", region)
            attributes = self.attempt(first, "manual_snapshot_quota",
                                      f"reading the account quotas of {region}",
                                      rds.describe_account_attributes)
            if attributes is None:
                continue
            by_quota: dict[CopyQuotas, list[JobSpec]] = defaultdict(list)
            for job in jobs:
                by_quota[SYNC_TYPES[job.sync_type].COPY_QUOTAS].append(job)
            for quotas, quota_jobs in by_quota.items():
                self._manual_snapshot_quota(region, quotas, quota_jobs, attributes)

    def _manual_snapshot_quota(self, region: str, quotas: CopyQuotas, jobs: list[JobSpec],
                               attributes: dict[str, Any]) -> None:
        names = _job_names(jobs)
        quota = next((q for q in attributes.get("AccountQuotas") or ()
                      if q.get("AccountQuotaName") == quotas.account_quota), None)
        if quota is None:
            self.add(names, "manual_snapshot_quota", WARNING, f"DescribeAccountAttributes "
                     f"in {region} reported no {quotas.account_quota} quota: check "
                     f"'{quotas.service_quota_name}' in Service Quotas")
            return
        used, limit = int(quota["Used"]), int(quota["Max"])
        # Each job may hold, at the peak of a run, this run's copy, the newest copy and
        # max_snapshots_to_retain previous ones; the copies it holds already count in Used.
        need = sum((SYNC_TYPES[job.sync_type].retention(job) or 0) + 2 for job in jobs)
        held = self._copies_held(jobs)
        room = limit - used + held
        said = (f"{quotas.counted} in {region}: {used} of {limit} used, {held} of them "
                f"these jobs' copies; {_count(jobs, 'RDS job')} "
                f"{'need' if len(jobs) != 1 else 'needs'} up to {need} (per job: this run's "
                "copy, the newest copy and max_snapshots_to_retain previous ones)")
        fix = (f"delete unneeded {quotas.counted} in the region, lower "
               f"max_snapshots_to_retain, or raise '{quotas.service_quota_name}' in "
               "Service Quotas")
        margin = math.ceil(limit * NEAR_QUOTA_SHARE)
        if room < need:
            self.add(names, "manual_snapshot_quota", ERROR, f"{said}: no room for them, and "
                     f"copies past the quota fail with SnapshotQuotaExceeded: {fix}")
        elif room < need + margin:
            self.add(names, "manual_snapshot_quota", WARNING, f"{said}: less than "
                     f"{margin} to spare (10% of the quota): {fix}")
        else:
            self.add(names, "manual_snapshot_quota", OK, f"{said}: {room - need} to spare")

    def _copies_held(self, jobs: list[JobSpec]) -> int:
        """This config's copies already in the destination (they count in Used)."""
        held: set[str] = set()
        for job in jobs:
            source = self.sources.get(job.name)
            if source is None:
                continue
            existing = self.attempt(
                job, "manual_snapshot_quota", f"looking for copies in {job.destination_region}",
                partial(SYNC_TYPES[job.sync_type].find_existing_copy, job, source))
            for copy in existing["managed"] if existing else ():
                if copy.get("state") != GONE:
                    held.add(copy["id"])
        return len(held)

    def check_copy_quota(self) -> None:
        by_region: dict[tuple[str, str], list[JobSpec]] = defaultdict(list)
        for job in self.jobs:
            by_region[(job.destination_region, job.sync_type)].append(job)
        for (region, sync_type), jobs in by_region.items():
            quotas = SYNC_TYPES[sync_type].COPY_QUOTAS
            limit, kind = quotas.in_progress, quotas.in_progress_kind
            slots = sum(self.copy_slots.get(job.name, 1) for job in jobs)
            each = (" (an AMI copy holds one per backing snapshot)"
                    if sync_type == ec2_ami.NAME else "")
            said = (f"{_count(jobs, sync_type + ' job')} "
                    f"{'copy' if len(jobs) != 1 else 'copies'} into {region}: up to {slots} "
                    f"{kind} in progress at once{each}; AWS allows "
                    f"{limit} per destination region")
            if slots > limit:
                self.add(_job_names(jobs), "copy_quota", WARNING, f"{said}. When they all "
                         f"copy in one run, about {slots - limit} are deferred to the next "
                         "run (status deferred, not failed; see \"Copy quotas: deferred, not "
                         "failed\"): to avoid it, spread the jobs over schedules or "
                         "destination regions, or lower MapMaxConcurrency")
            else:
                self.add(_job_names(jobs), "copy_quota", OK, said)


def _count(items: Sized, what: str) -> str:
    return f"{len(items)} {what}{'s' if len(items) != 1 else ''}"


def _job_names(jobs: list[JobSpec]) -> str:
    names = [job.name for job in jobs]
    if len(names) <= MAX_NAMED_JOBS:
        return ", ".join(names)
    return ", ".join(names[:MAX_NAMED_JOBS]) + f" (+{len(names) - MAX_NAMED_JOBS} more)"


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


def format_findings(findings: list[Finding]) -> str:
    """A table: JOB, CHECK, RESULT, MESSAGE."""
    rows = [("JOB", "CHECK", "RESULT", "MESSAGE")]
    rows += [(f.job, f.check, f.severity, f.message) for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in
                               zip(row[:3], widths, strict=True)) + "  " + row[3]
                     for row in rows)


__all__ = ["ERROR", "OK", "WARNING", "Finding", "doctor", "format_findings",
           "has_errors"]
