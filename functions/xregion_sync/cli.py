"""The `xregion-sync` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import __version__, logs
from .config import load_config
from .errors import ConfigError, SyncError
from .result import SyncResult
from .runner import run
from .tables import format_status_table, format_table

ENGINES = ("inprocess", "stepfunctions-local")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2  # 2: bad input, nothing done
if TYPE_CHECKING:  # (argparse's class is generic only in its type stubs)
    # `commands` below: what ArgumentParser.add_subparsers returns.
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


class _Row(Protocol):
    """A row of `status` or `doctor` (JobStatus, Finding): --json prints its to_dict()."""

    def to_dict(self) -> Mapping[str, Any]: ...


Row = TypeVar("Row", bound=_Row)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The task handlers log JSON lines for CloudWatch; on a terminal only problems matter,
    # on stderr, so that stdout is the command's output (--json stays valid JSON).
    logging.getLogger("xregion_sync").setLevel(os.environ.get(logs.LOG_LEVEL_VARIABLE,
                                                              "WARNING"))
    # The emulator's state machine interpreter logs its internals for every failed state.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    try:
        with logs.logs_on_stderr():
            command: Callable[[argparse.Namespace], int] = args.command
            return command(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xregion-sync",
        description="Keep disaster-recovery copies of EC2 AMIs and RDS snapshots in a "
                    "second AWS region.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a config without calling AWS")
    validate.add_argument("config", type=Path, help="path of the YAML config")
    validate.add_argument("--for", dest="engine", choices=("inprocess", "stepfunctions"),
                          default="inprocess",
                          help="stepfunctions: also what the deployed state machine refuses "
                               "(static access keys)")
    validate.set_defaults(command=cmd_validate)

    run_cmd = commands.add_parser("run", help="run every job of a config once")
    run_cmd.add_argument("config", type=Path, help="path of the YAML config")
    run_cmd.add_argument("--json", action="store_true", help="print the results as JSON")
    run_cmd.add_argument("--dry-run", action="store_true",
                         help="only read: show what would be copied and pruned")
    run_cmd.add_argument("--engine", choices=ENGINES, default="inprocess",
                         help="inprocess (default) or the real state machine on emulated AWS")
    run_cmd.add_argument("--job", dest="jobs", action="append", metavar="NAME",
                         help="run only this job (repeat for several; default: every job)")
    run_cmd.set_defaults(command=cmd_run)

    push = commands.add_parser("push-config",
                               help="validate a config and store it as a stack's scheduled config")
    push.add_argument("config", type=Path, help="path of the YAML config")
    push.add_argument("--stack", required=True, help="name of the deployed xregion-sync stack")
    push.add_argument("--region", help="region of the stack (default: your AWS config's)")
    push.add_argument("--profile", help="AWS profile to use")
    push.add_argument("--bucket", help="bucket for a config too large for the SSM parameter "
                                       "(default: the stack's run bucket)")
    push.set_defaults(command=cmd_push_config)

    delete = commands.add_parser(
        "delete-stack", help="empty a stack's run bucket and delete the stack (keeps every "
                             "DR copy)")
    delete.add_argument("--stack", required=True, help="name of the deployed xregion-sync stack")
    delete.add_argument("--region", help="region of the stack (default: your AWS config's)")
    delete.add_argument("--profile", help="AWS profile to use")
    delete.add_argument("--yes", action="store_true",
                        help="really delete (without it, only say what would be deleted)")
    delete.set_defaults(command=cmd_delete_stack)

    _add_status_command(commands)
    _add_drill_command(commands)
    _add_operate_commands(commands)

    demo = commands.add_parser("demo", help="run the sample config twice on emulated AWS")
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    demo.set_defaults(command=cmd_demo)

    _add_doctor_parser(commands)
    _add_smoke_parser(commands)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    errors = list(config.errors)
    if args.engine == "stepfunctions":
        from .execution import state_machine_errors

        errors += [e for entry in config.entries for e in state_machine_errors(entry)]
    for error in errors:
        print(f"error: {error}")
    for note in [*config.notes, *(note for entry in config.entries for note in entry.notes)]:
        print(f"note: {note}")
    invalid = {error.job for error in errors}
    valid = sum(1 for entry in config.entries if entry.spec and entry.name not in invalid)
    print(f"{valid} of {len(config.entries)} jobs valid")
    return EXIT_FAILED if errors else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    if args.engine == "stepfunctions-local":
        if args.dry_run:
            print("error: --dry-run needs the in-process engine (the state machine always "
                  "acts)", file=sys.stderr)
            return EXIT_FAILED
        problem = emulator_problem()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
        from xregion_sync_emulator.stepfunctions import run_on_local_state_machine

        results = run_on_local_state_machine(args.config, jobs=args.jobs)
    else:
        results = run(args.config, dry_run=args.dry_run, jobs=args.jobs)
    _print_results(results, as_json=args.json)
    return EXIT_FAILED if any(r.failed for r in results) else EXIT_OK


def cmd_push_config(args: argparse.Namespace) -> int:
    from .deploy import push_config

    pushed = push_config(args.config, stack=args.stack, region=args.region,
                         profile=args.profile, bucket=args.bucket)
    for warning in pushed.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in pushed.problems:
        print(f"error: {problem}", file=sys.stderr)
    if pushed.problems:
        print("nothing was stored", file=sys.stderr)
        return EXIT_FAILED
    print(f"stored in {pushed.where}; the schedule runs it from the next execution")
    return EXIT_OK


def cmd_delete_stack(args: argparse.Namespace) -> int:
    from .deploy import delete_stack

    if not args.yes:
        print(f"would empty the run bucket of stack {args.stack} (every object version: "
              "plans, results, configs) and delete the stack; the DR copies (AMIs, "
              "snapshots) are kept. Run again with --yes to do it.", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        deleted = delete_stack(args.stack, region=args.region, profile=args.profile)
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    emptied = (f"run bucket {deleted.bucket} emptied ({deleted.versions_deleted} object "
               "versions)" if deleted.bucket else "no run bucket left")
    print(f"{emptied}; deletion of stack {deleted.stack} started (CloudFormation completes "
          "it in a few minutes); the DR copies are kept")
    return EXIT_OK


# ---------------------------------------------------------------- start, executions


def _add_operate_commands(commands: Commands) -> None:
    start = commands.add_parser("start", help="start the deployed state machine (and follow it)")
    start.add_argument("--stack", required=True, help="name of the deployed xregion-sync stack")
    start.add_argument("--job", action="append", metavar="NAME",
                       help="run only this job (repeat for several; default: every job)")
    start.add_argument("--config-uri", metavar="URI",
                       help="run this config instead of the deployed one: ssm:<parameter> "
                            "or s3://bucket/key")
    start.add_argument("--follow", action="store_true",
                       help="show progress until the execution ends, then the results; "
                            "exit 1 if it failed or a job failed")
    start.add_argument("--poll-seconds", type=float, default=5.0, metavar="S",
                       help="seconds between progress polls with --follow (default 5)")
    start.add_argument("--dry-run", action="store_true",
                       help="resolve every job and show what a real run would copy and "
                            "prune; nothing is copied, tagged or deleted")
    start.add_argument("--region", help="region of the stack (default: your AWS config's)")
    start.add_argument("--profile", help="AWS profile to use")
    start.set_defaults(command=cmd_start)

    executions = commands.add_parser("executions",
                                     help="recent executions of the deployed state machine")
    executions.add_argument("--stack", required=True,
                            help="name of the deployed xregion-sync stack")
    executions.add_argument("--max", type=int, default=10, metavar="N",
                            help="how many, newest first (default 10)")
    executions.add_argument("--json", action="store_true", help="print them as JSON")
    executions.add_argument("--region", help="region of the stack (default: your AWS config's)")
    executions.add_argument("--profile", help="AWS profile to use")
    executions.set_defaults(command=cmd_executions)


def cmd_start(args: argparse.Namespace) -> int:
    from . import operate

    if args.poll_seconds < 0:
        print("error: --poll-seconds must be 0 or more", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        document = operate.execution_input(args.job, args.config_uri, dry_run=args.dry_run)
        stack = operate.find_stack(args.stack, region=args.region, profile=args.profile)
        stack.state_machine_arn  # noqa: B018 (raises OperateError when the output is missing)
        execution_arn = operate.start_execution(stack, document)
    except (operate.OperateError, operate.AwsCallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was started", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"started {execution_arn}")
    print(f"input   {json.dumps(document)}")
    print(f"console {operate.console_url(stack.region, execution_arn)}")
    if not args.follow:
        return EXIT_OK
    sfn = stack.client("stepfunctions")
    try:
        description = operate.follow(
            sfn, execution_arn, poll_seconds=args.poll_seconds,
            on_progress=lambda now, elapsed: print(now.line(elapsed), flush=True))
        document = operate.execution_document(sfn, description)
        results = operate.read_results(document, stack.client("s3"))
    except (operate.OperateError, operate.AwsCallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\nstopped following; the execution goes on: {execution_arn}", file=sys.stderr)
        return 130
    status = description["status"]
    print()
    if results:
        print(format_table(results))
    if document.get("summary"):
        print(operate.summary_text(document))
    print(f"execution {status}")
    if status != "SUCCEEDED" and not any(r.failed for r in results):
        print(f"error: {description.get('error') or status}: "
              f"{operate.cause_text(description.get('cause'))}", file=sys.stderr)
    return EXIT_OK if status == "SUCCEEDED" and not any(r.failed for r in results) \
        else EXIT_FAILED


def cmd_executions(args: argparse.Namespace) -> int:
    from . import operate

    if args.max < 1:
        print("error: --max must be 1 or more", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        stack = operate.find_stack(args.stack, region=args.region, profile=args.profile)
        stack.state_machine_arn  # noqa: B018 (raises OperateError when the output is missing)
    except operate.OperateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        rows = operate.recent_executions(stack, max_results=args.max)
    except (operate.OperateError, operate.AwsCallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(operate.format_executions(rows))
    else:
        print(f"no executions of {stack.state_machine_arn} yet")
    return EXIT_OK


NEEDS_A_CHECKOUT = ("`xregion-sync demo` and `run --engine stepfunctions-local` run the "
                    "repository's template.yaml on emulated AWS: they need a checkout of "
                    "xregion-sync with its development environment (git clone, then `make "
                    "demo`), not an installed command")


def emulator_problem() -> str | None:
    """Why emulated AWS cannot run here (a pipx-installed command has no moto, no
    template.yaml and no IAM evaluator), or None."""
    try:
        from xregion_sync_emulator.iam_evaluator import EvaluatorUnavailable, check_installation
        from xregion_sync_emulator.moto_seam import MotoSeamError
        from xregion_sync_emulator.template import TEMPLATE_PATH
    except ImportError as exc:
        return f"{exc}; {NEEDS_A_CHECKOUT}"
    except Exception as exc:  # the seam refusing this moto (MotoSeamError)
        return str(exc)
    if not TEMPLATE_PATH.exists():
        return f"{TEMPLATE_PATH} not found; {NEEDS_A_CHECKOUT}"
    try:
        check_installation()
    except (EvaluatorUnavailable, MotoSeamError) as exc:
        return str(exc)
    return None


def cmd_demo(args: argparse.Namespace) -> int:
    problem = emulator_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from xregion_sync_emulator.demo import run_demo

    return run_demo(as_json=args.json)


# ---------------------------------------------------------------- status


def _add_status_command(commands: Commands) -> None:
    status_cmd = commands.add_parser(
        "status", help="how old each job's newest DR copy is (read-only); exit 1 if any "
                       "job is stale or failed")
    status_cmd.add_argument("config", type=Path, help="path of the YAML config")
    status_cmd.add_argument("--json", action="store_true", help="print the statuses as JSON")
    status_cmd.set_defaults(command=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from .status import status

    return _report(args, status, format_status_table,
                   # An overdue drill is marked, not failed: its record may have gone with
                   # a pruned copy (docs/restore-drills.md).
                   failed=lambda statuses: any(s.stale or s.errors or s.drill_failed
                                               for s in statuses))


def _report(args: argparse.Namespace, look: Callable[[Path], list[Row]],
            format_rows: Callable[[list[Row]], str],
            failed: Callable[[list[Row]], bool]) -> int:
    """status, doctor and drill: a look at every job of args.config, as a table or
    --json; exit 1 when `failed(rows)`, 2 when the config cannot be read at all."""
    try:
        rows = look(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(format_rows(rows))
    return EXIT_FAILED if failed(rows) else EXIT_OK


# ---------------------------------------------------------------- drill


def _add_drill_command(commands: Commands) -> None:
    drill_cmd = commands.add_parser(
        "drill", help="restore each job's newest DR copy into throwaway resources, measure, "
                      "delete them; exit 1 if a drill failed")
    drill_cmd.add_argument("config", type=Path, help="path of the YAML config")
    drill_cmd.add_argument("--job", action="append", dest="jobs", metavar="NAME",
                           help="drill only this job (again for more)")
    drill_cmd.add_argument("--force", action="store_true",
                           help="drill even when the last drill is younger than every_days")
    drill_cmd.add_argument("--json", action="store_true", help="print the results as JSON")
    drill_cmd.set_defaults(command=cmd_drill)


def cmd_drill(args: argparse.Namespace) -> int:
    from .drills import drill
    from .tables import format_drill_table

    return _report(args, lambda config: drill(config, args.jobs, args.force),
                   format_drill_table, failed=lambda results: any(r.failed for r in results))




def _print_results(results: list[SyncResult], *, as_json: bool) -> None:
    if as_json:
        # The shape of a state machine execution's output: {"results", "summary"}.
        from .execution import summarize_results

        document = summarize_results([r.to_dict() for r in results])
        document.pop("failure_cause", None)  # the Fail state's text; the results say it all
        print(json.dumps(document, indent=2))
    else:
        print(format_table(results))


# ---------------------------------------------------------------- doctor



def _add_doctor_parser(commands: Commands) -> None:
    doctor = commands.add_parser(
        "doctor", help="read-only checks of a config against AWS; exit 1 on any error")
    doctor.add_argument("config", type=Path, help="path of the YAML config")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument("--stack", help="also check the config against this deployed stack's "
                                        "parameters (JobRoleArns, CredentialsSecretArns, "
                                        "SourceKmsKeyArns, NotificationEmail)")
    doctor.add_argument("--region", help="region of the stack (default: your AWS config's)")
    doctor.add_argument("--profile", help="AWS profile for reading the stack")
    doctor.set_defaults(command=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when no check found an error (warnings allowed), 1 when one did, 2 when the
    config cannot be read at all (or the stack named by --stack cannot be read)."""
    from .deploy import configured_region, describe_stack
    from .doctor import doctor, format_findings, has_errors
    from .spec import ClientConfig

    stack = None
    if args.stack:
        region = args.region or configured_region(args.profile)
        try:
            if not region:
                raise SyncError("no AWS region is configured: pass --region (the stack's "
                                "region)")
            stack = describe_stack(ClientConfig(profile=args.profile), region, args.stack)
        except SyncError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return _report(args, partial(doctor, stack=stack), format_findings, failed=has_errors)


# ---------------------------------------------------------------- smoke


def _add_smoke_parser(commands: Commands) -> None:
    smoke = commands.add_parser(
        "smoke", help="checklist of a deployed stack (dry-run execution, alarm delivery); "
                      "exit 1 if a check failed")
    smoke.add_argument("--stack", required=True, help="name of the deployed xregion-sync stack")
    smoke.add_argument("--region", help="region of the stack (default: your AWS config's)")
    smoke.add_argument("--profile", help="AWS profile to use")
    smoke.add_argument("--json", action="store_true", help="print the checks as JSON")
    smoke.set_defaults(command=cmd_smoke)


def cmd_smoke(args: argparse.Namespace) -> int:
    """Exit 0 when every check passed, 1 when one failed (or the stack cannot be read)."""
    from .operate import OperateError
    from .smoke import all_passed, format_checklist, smoke

    try:
        checks = smoke(args.stack, region=args.region, profile=args.profile)
    except OperateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps([check.to_dict() for check in checks], indent=2))
    else:
        print(format_checklist(checks))
    return EXIT_OK if all_passed(checks) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
