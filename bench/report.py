"""The benchmark's tables, printed from the JSON-able results (so a saved --json file
prints the same)."""

from __future__ import annotations

from typing import Any

from xregion_sync_emulator.quotas import AWS_QUOTAS

from . import costs
from .history import COPY, HISTORY_LIMIT_EVENTS, IN_SYNC, PAYLOAD_LIMIT_BYTES
from .importtime import BEYOND, LOAD_CONFIG, WHOLE
from .measure import RUNNER, STATE_MACHINE
from .scenarios import DEFAULT_MANUAL_SNAPSHOTS, RAISED_MANUAL_SNAPSHOTS

API_CALL_TARGETS = {"in sync": 2, "copy": 3}  # copy + k pruned: 3 + k
# An AMI copy reads once more, after CopyImage: its idempotent answer may name an AMI
# deregistered since (design.md: copy path 3 calls, 4 at most).
COPY_TARGET_OF_SYNC_TYPE = {"ec2_ami": 4}
TRANSITION_TARGETS = {IN_SYNC: 6, COPY: 10}
IMPORT_TARGET_MS = 30
LOAD_CONFIG_IMPORT_TARGET_MS = 75
EXPRESS_LIMIT_SECONDS = AWS_QUOTAS.express_execution_seconds


def verdict(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return "-"
    return "PASS" if value <= target else "MISS"


def api_call_target(path: str, sync_type: str) -> int | None:
    copy = COPY_TARGET_OF_SYNC_TYPE.get(sync_type, API_CALL_TARGETS["copy"])
    if path.startswith("copy + "):
        return copy + int(path.split()[2])
    return copy if path == "copy" else API_CALL_TARGETS.get(path)


def print_table(title: str, headers: list[str], rows: list[list[Any]],
                notes: list[str] = ()) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w)
                        for c, w in zip(row, widths, strict=True)).rstrip())
    for note in notes:
        print(f"  * {note}")


def print_report(results: dict[str, Any]) -> None:
    sizes = results["sizes"]
    print(f"xregion-sync benchmark: {results['meta']['description']}")
    api_calls(sizes)
    transitions(sizes)
    history(sizes)
    cost(sizes)
    payloads(sizes)
    wall_times(sizes, results["meta"])
    import_time(results["import_time"])
    if results.get("scale"):
        scale(results["scale"])
    if results.get("quota"):
        quota(results["quota"])
    problems = [(s["n"], p) for s in sizes for p in s["problems"]]
    if problems:
        print("\n== Jobs that did not end as expected (numbers above are suspect)")
        for n, problem in problems:
            print(f"  N={n}: {problem}")
    print(f"\nTotal benchmark time: {results['meta']['seconds']:.0f} s")


def api_calls(sizes: list[dict[str, Any]]) -> None:
    rows, misses = [], []
    for size in sizes:
        for row in size["api_calls"]:
            target = api_call_target(row["path"], row["sync_type"])
            ops = ", ".join(f"{op} {n:g}" for op, n in row["operations"].items())
            rows.append([size["n"], row["path"], row["sync_type"], row["driver"],
                         row["per_job"], target, verdict(row["per_job"], target), ops])
            if verdict(row["per_job"], target) == "MISS":
                misses.append(f"N={size['n']} {row['sync_type']} {row['path']} "
                              f"({row['driver']}): {ops}")
    notes = ["requests the tool sent (aws.observe_calls), per job of that sync type; "
             "target: in sync 2, copy 3 (ec2_ami 4: a read after CopyImage), +1 per pruned copy; "
             "'copy + k pruned' prunes one fewer "
             "while the job's new copy is still pending (the newest available older one is "
             "kept, docs/semantics.md 'Pruning'), and the next run prunes it",
             "the prune path is measured with the in-process runner (both drivers call the "
             "same steps; the state machine's prune path enters the same states as copy)"]
    notes += [f"MISS {m}" for m in misses]
    print_table("1. AWS API calls per job",
                ["N", "path", "sync type", "driver", "calls/job", "target", "", "operations/job"],
                rows, notes)


def transitions(sizes: list[dict[str, Any]]) -> None:
    rows, sequences, parent = [], {}, {}
    for size in sizes:
        for row in size["transitions"]:
            low, high = row["transitions"]
            spent = size["overhead"][row["run"]]
            shared = len(spent["states"]) / size["n"]
            target = TRANSITION_TARGETS.get(row["path"])
            rows.append([size["n"], row["run"], row["path"], row["execution_type"], row["jobs"],
                         _range(low, high), target, verdict(high, target),
                         round(shared, 3), round(high + shared, 3), _range(*row["lambdas"]),
                         round(row["lambdas"][1] + spent["lambdas"] / size["n"], 3)])
            sequences[row["path"]] = row["states"]
        for run, spent in size["overhead"].items():
            parent[run] = spent
    notes = [f"{path} ({len(states)}): " + " -> ".join(states)
             for path, states in sequences.items()]
    notes += [f"parent ({run}): {len(o['states'])} states ({', '.join(o['states'])}), "
              f"{o['lambdas']} Lambda invocations per execution, whatever N"
              for run, o in parent.items()]
    notes.append("child = StateEntered events in each job's child execution (its own history);"
                 " +parent = the parent's StateEntered events / N; targets: in sync <= 6, "
                 "copy without polling <= 10 per child")
    print_table("2. State transitions and Lambda invocations per job (each job is one child "
                "execution)",
                ["N", "execution", "path", "child type", "jobs", "child", "target", "",
                 "parent/N", "child+parent", "Lambdas/child", "Lambdas+parent/N"], rows, notes)


def history(sizes: list[dict[str, Any]]) -> None:
    """History events against the 25,000-event quota, which each execution has for itself:
    the parent and every child execution."""
    rows, verdicts = [], []
    for size in sizes:
        for run, measured in size.get("history", {}).items():
            worst = max(measured["parent_events"], measured["largest_child_events"])
            fits = worst < HISTORY_LIMIT_EVENTS
            rows.append([size["n"], run, measured["children"], measured["parent_events"],
                         f"{100 * measured['parent_events'] / HISTORY_LIMIT_EVENTS:.2f}%",
                         measured["largest_child_events"],
                         f"{100 * measured['largest_child_events'] / HISTORY_LIMIT_EVENTS:.2f}%",
                         "fits" if fits else "FAILS on AWS"])
            if not fits:
                verdicts.append(f"N={size['n']} {run}: {worst:,} events >= "
                                f"{HISTORY_LIMIT_EVENTS:,}: FAILS on AWS")
            if measured["status"] != "SUCCEEDED":
                verdicts.append(f"N={size['n']} {run}: the execution {measured['status']} "
                                f"({measured['error']})")
    parents = [s["history"][run]["parent_events"] for s in sizes for run in s["history"]]
    if parents and max(parents) > min(parents) + 5:
        verdicts.append(f"the parent's history grows with N: {min(parents)} to "
                        f"{max(parents)} events")
    elif parents:
        verdicts.append(f"the parent's history does not grow with N ({min(parents)}-"
                        f"{max(parents)} events); a child's is bounded by its own path (+9 "
                        "per poll, +3 per Lambda retry): every N fits")
    verdicts.append(f"every RDS copy is a manual DB (cluster) snapshot: AWS allows "
                    f"{DEFAULT_MANUAL_SNAPSHOTS} of each per region by default (adjustable); "
                    f"these runs raise both to {RAISED_MANUAL_SNAPSHOTS:,}")
    for sync_type, what, quota in (
            ("rds_automated_snapshot", "RDS", "Manual DB instance snapshots"),
            ("rds_cluster_snapshot", "DB cluster", "Manual DB cluster snapshots")):
        for n, jobs in [(s["n"], s["jobs"].get(sync_type, 0)) for s in sizes]:
            if 3 * jobs <= DEFAULT_MANUAL_SNAPSHOTS:
                continue
            verdicts.append(
                f"N={n}: {jobs} {what} jobs into one region keep {jobs} to {3 * jobs} copies "
                "(one per job; 3 with the default max_snapshots_to_retain 2): "
                + ("FAILS on AWS at the default quota" if jobs > DEFAULT_MANUAL_SNAPSHOTS
                   else "the steady state FAILS on AWS at the default quota")
                + f" (CopyQuotaExceededError): raise '{quota}'")
    express = [(row["child_seconds"][1], size["n"], row["run"]) for size in sizes
               for row in size["transitions"] if row["execution_type"] == "EXPRESS"]
    if express:
        longest, n, run = max(express)
        fits = longest < EXPRESS_LIMIT_SECONDS
        verdicts.append(f"longest Express child {longest:.1f} s on moto (N={n}, {run}) against "
                        f"AWS's {EXPRESS_LIMIT_SECONDS:.0f} s Express limit: "
                        + ("fits" if fits else "FAILS on AWS (States.Timeout)")
                        + f"; on AWS about {costs.ASSUMED_LAMBDA_SECONDS * 1000:.0f} ms per "
                        "Lambda, a few seconds per job")
    notes = [f"quota {HISTORY_LIMIT_EVENTS:,} events per execution history, the parent and "
             "each child execution its own (an Express child's history is not kept by AWS, "
             "but is counted here the same way)", *verdicts]
    print_table("2a. History events per execution (quota 25,000 each)",
                ["N", "execution", "children", "parent events", "of quota",
                 "largest child events", "of quota", ""], rows, notes)


def cost(sizes: list[dict[str, Any]]) -> None:
    rows, chosen = [], {}
    for size in sizes:
        for row in size["transitions"]:
            spent = size["overhead"][row["run"]]
            for child_type in dict.fromkeys((row["execution_type"], costs.STANDARD)):
                price = costs.per_thousand_jobs(child_type, row["transitions"][1],
                                                row["lambdas"][1], len(spent["states"]),
                                                spent["lambdas"], size["n"])
                label = "chosen" if child_type == row["execution_type"] else "all Standard"
                before = costs.INLINE_MAP_USD.get(row["path"])
                rows.append([size["n"], row["path"], f"{child_type} ({label})",
                             round(price.transitions_per_job, 3),
                             _s(price.express_seconds) if price.express_seconds else "-",
                             f"${price.step_functions:.4f}", round(price.lambdas_per_job, 3),
                             f"${price.lambda_:.4f}", f"${price.total:.4f}",
                             f"${before:.4f}" if before else "-",
                             verdict(price.total, before)])
                if label == "chosen":
                    chosen[row["path"]] = price.total
    notes = [*costs.assumptions(),
             "before: the inline Map (all jobs in one Standard execution), "
             f"copy ${costs.INLINE_MAP_USD['copy']} / in sync ${costs.INLINE_MAP_USD['in sync']}"
             " per 1,000 job-runs; target: no higher (at N=1 the parent's 9 transitions, "
             "paid once per execution, dominate)",
             "jobs with wait_for_completion run as Standard children (they may wait hours): "
             "their cost is the 'all Standard' row, + 3 transitions (Wait For Copy, Poll Copy "
             "Status, Wait For Completion?) and 1 Lambda per poll",
             "Express duration measured on moto (table 4, child max) is only a floor: no AWS "
             "latency there"]
    print_table("2b. Cost per 1,000 job-runs (USD)",
                ["N", "path", "child type", "transitions/job", "Express s", "Step Functions",
                 "Lambdas/job", "Lambda", "total", "before", ""], rows, notes)


def payloads(sizes: list[dict[str, Any]]) -> None:
    rows = []
    for size in sizes:
        for key, label in (("largest", "anywhere"), ("largest_in_job", "inside one child")):
            payload = size["payload"].get(key)
            if payload:
                rows.append([size["n"], label, payload["bytes"],
                             f"{100 * payload['bytes'] / PAYLOAD_LIMIT_BYTES:.1f}%",
                             verdict(payload["bytes"], PAYLOAD_LIMIT_BYTES - 1),
                             f"{payload['event']} ({payload['run']})"])
    notes = [f"limit {PAYLOAD_LIMIT_BYTES} bytes (256 KiB) for any state input/output, "
             "the parent's and every child's history; Summarize returns the results inline "
             "up to 200 KiB, then results_uri (table 6)"]
    if any(r[4] == "MISS" for r in rows):
        notes.append("MISS: a payload over 256 KiB fails the execution on AWS with "
                     "States.DataLimitExceeded")
    print_table("3. Largest state input/output", ["N", "where", "bytes", "of 256 KiB", "",
                                                  "event (execution)"], rows, notes)


def wall_times(sizes: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    rows = []
    for size in sizes:
        wall = size["wall_seconds"]
        runner, machine = wall.get(RUNNER, {}), wall.get(STATE_MACHINE, {})
        child = {row["run"]: row["child_seconds"][1] for row in size["transitions"]}
        rows.append([size["n"], _s(runner.get("copy")), _s(runner.get("in sync")),
                     _s(machine.get("copy")), _s(machine.get("copy (execution only)")),
                     _s(child.get("copy")),
                     _s(machine.get("in sync")), _s(machine.get("in sync (execution only)")),
                     _s(child.get("in sync")),
                     _s(wall.get("prune scenario (runner)"))])
    notes = [f"runner: {meta['runner_workers']} worker threads; state machine: Map "
             f"MaxConcurrency {meta['map_max_concurrency']} (template default); emulated AWS "
             "(moto) in one process on this machine, no AWS latency",
             "state machine 'total' includes fetching the execution history from moto "
             "(get_execution_history); 'execution' is ExecutionStarted..ExecutionSucceeded; "
             "'child max' is the longest child execution (start to stop)",
             "prune scenario: 3 setup runs + 2 measured runs of N jobs (runner)",
             "measured after a warm-up run (botocore model loading excluded)"]
    notes += meta.get("skipped", [])
    print_table("4. Wall time (seconds)", ["N", "runner copy", "runner in sync",
                                           "SFN copy total", "SFN copy execution",
                                           "SFN copy child max", "SFN in sync total",
                                           "SFN in sync execution", "SFN in sync child max",
                                           "prune scenario"], rows, notes)


def scale(measured: list[dict[str, Any]]) -> None:
    rows, notes = [], []
    for m in measured:
        plan, summary = m["plan"], m["summarize"]
        rows.append([m["n"], "Load Config (plan)", _s3(plan["seconds"]), plan["state_bytes"],
                     verdict(plan["state_bytes"], PAYLOAD_LIMIT_BYTES - 1),
                     ", ".join(f"plan-{k}.json {b:,} B ({plan['jobs'][k]} jobs)"
                               for k, b in plan["files"].items())])
        where = (f"results_uri {summary['results_uri']} ({summary['results_bytes']:,} B)"
                 if summary["results_uri"] else f"results inline ({summary['results_bytes']:,} B)")
        rows.append([m["n"], "Summarize", _s3(summary["seconds"]), summary["output_bytes"],
                     verdict(summary["output_bytes"], PAYLOAD_LIMIT_BYTES - 1),
                     f"input {summary['input_bytes']} B; {where}; summary "
                     + ", ".join(f"{k} {v}" for k, v in summary["summary"].items())])
        if not m["config_fits_input"]:
            notes.append(f"N={m['n']}: the config ({m['config_bytes']:,} B) does not fit the "
                         "256 KiB execution input: it must go in as config_uri")
        if not m["config_fits_uri"]:
            notes.append(f"N={m['n']}: WOULD NOT RUN: the config ({m['config_bytes']:,} B) is "
                         "over config.MAX_CONFIG_BYTES, which Load Config refuses")
    notes += ["Load Config reads the config from the run bucket (config_uri) and parses it; "
              "in-process on emulated S3, no Lambda or Step Functions around it: the state "
              "column is what the Lambda returns into the parent's state (limit 256 KiB)",
              "Summarize reads a ResultWriter layout written as AWS writes it: manifest.json + "
              "SUCCEEDED_0.json, one record per child (Transformation NONE), every job copied"]
    print_table("6. Plan and results at scale (without running the children)",
                ["N", "step", "seconds", "state bytes", "", "in the run bucket"], rows, notes)


def quota(measured: dict[str, Any]) -> None:
    n, slots, seconds = measured["n"], measured["slots"], measured["copy_seconds"]
    rows = [[n, f"without waiting, run {r['run']}", r["execution"], r.get("copied", 0),
             r.get("in_sync", 0), r.get("deferred", 0), r.get("failed", 0), _s(r["seconds"]),
             "-"] for r in measured["runs"]]
    waiting = measured["waiting"]
    rows.append([n, "wait_for_completion", waiting["execution"], waiting.get("copied", 0),
                 waiting.get("in_sync", 0), waiting.get("deferred", 0), waiting.get("failed", 0),
                 _s(waiting["seconds"]), _s(waiting["floor_seconds"])])
    last = measured["runs"][-1]
    notes = [f"{n} rds_automated_snapshot copy jobs into one region; emulated copies stay "
             f"pending {seconds:g} s and hold one of {slots} copy slots; Map MaxConcurrency "
             f"{measured['max_concurrency']} (the bench's; the template default is 10, with "
             f"which a waiting run never holds more than 10 copies at once)",
             f"the manual DB snapshot quota is raised to {measured['manual_snapshots']:,}"
             + (f": at AWS's default {DEFAULT_MANUAL_SNAPSHOTS} per region, {n} RDS copies "
                f"FAIL on AWS past the {DEFAULT_MANUAL_SNAPSHOTS}th (CopyQuotaExceededError, "
                "'Manual DB instance snapshots')" if n > DEFAULT_MANUAL_SNAPSHOTS else
                f" (AWS's default {DEFAULT_MANUAL_SNAPSHOTS} per region holds {n} copies)"),
             f"floor = ceil({n}/{slots}) x {seconds:g} s; waiting: {waiting['slot_waits']} "
             f"'Wait For Copy Slot' entered, {waiting['polls']} polls, copy states "
             f"{waiting['copy_states']}, children {waiting['child_types']}"]
    failed = sum(r.get("failed", 0) for r in measured["runs"]) + waiting.get("failed", 0)
    notes.append("PASS: no job failed for the copy quota" if not failed
                 else f"MISS: {failed} jobs failed")
    if last.get("deferred"):
        notes.append(f"stopped after {len(measured['runs'])} runs with {last['deferred']} still "
                     f"deferred: each next run copies at least {slots} more (more when copies "
                     f"finish during the run), so at most ceil({n}/{slots}) = {-(-n // slots)} "
                     "runs copy them all")
    print_table("7. Copy quota: 20 copies in progress per destination region",
                ["N", "run", "execution", "copied", "in sync", "deferred", "failed", "seconds",
                 "floor s"], rows, notes)


def import_time(measured: dict[str, Any]) -> None:
    rows, notes = [], []
    for start in measured["handlers"]:
        median, spread = start["median_ms"], start["range_ms"]
        target = import_target_ms(start["handlers"])
        rows.append([", ".join(start["handlers"]), start["sync_type"] or "-",
                     round(median["boto3"] + median["botocore"], 1),
                     round(median[BEYOND], 1), _range(*(round(v, 1) for v in spread[BEYOND])),
                     target, verdict(median[BEYOND], target)])
        notes.append(f"{', '.join(start['handlers'])}"
                     f"{' (' + start['sync_type'] + ')' if start['sync_type'] else ''}: "
                     + ", ".join(f"{m} {ms:.1f}" for m, ms in start["slowest_beyond_ms"].items()))
    notes = [f"`python -X importtime -c 'import <the modules>'` in a fresh interpreter, median "
             f"of {measured['repeats']}: the handlers module, the step's module (imported at "
             "the first invocation), a job step's sync type, and for Load Config PyYAML (a "
             "YAML config; an inline one never imports it); modules the interpreter loads at "
             "startup excluded; 'boto3/botocore' also holds every module a plain `import "
             "boto3` loads; 'beyond' is what this package adds on top, whatever the order",
             f"targets: {IMPORT_TARGET_MS} ms beyond boto3 for every handler but Load Config; "
             f"Load Config {LOAD_CONFIG_IMPORT_TARGET_MS} ms (PyYAML alone is about half, "
             "and it was the whole package's figure before the handlers imported lazily)",
             "slowest beyond boto3/botocore (own ms):", *notes]
    print_table("5. Cold import time per Lambda handler (ms)",
                ["handlers", "sync type", "boto3+botocore", "beyond boto3", "range", "target",
                 ""], rows, notes)


def import_target_ms(handlers: list[str]) -> int | None:
    if WHOLE in handlers:
        return None
    return LOAD_CONFIG_IMPORT_TARGET_MS if LOAD_CONFIG in handlers else IMPORT_TARGET_MS


def _range(low: Any, high: Any) -> str:
    return f"{low}" if low == high else f"{low}-{high}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _s3(seconds: float) -> str:
    return f"{seconds:.3f}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.2f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("%", "").replace("$", "").isdigit()
