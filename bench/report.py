"""The benchmark's tables, printed from the JSON-able results (so a saved --json file
prints the same)."""

from __future__ import annotations

from typing import Any

from . import costs
from .history import COPY, HISTORY_LIMIT_EVENTS, IN_SYNC, PAYLOAD_LIMIT_BYTES, jobs_that_fit
from .importtime import BEYOND
from .measure import RUNNER, STATE_MACHINE

API_CALL_TARGETS = {"in sync": 2, "copy": 3}  # copy + k pruned: 3 + k
TRANSITION_TARGETS = {IN_SYNC: 6, COPY: 10}
IMPORT_TARGET_MS = 50
PROJECTED_SIZES = (100, 1000)  # the default sizes: a --quick run still says whether they fit


def verdict(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return "-"
    return "PASS" if value <= target else "MISS"


def api_call_target(path: str) -> int | None:
    if path.startswith("copy + "):
        return API_CALL_TARGETS["copy"] + int(path.split()[2])
    return API_CALL_TARGETS.get(path)


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
            target = api_call_target(row["path"])
            ops = ", ".join(f"{op} {n:g}" for op, n in row["operations"].items())
            rows.append([size["n"], row["path"], row["sync_type"], row["driver"],
                         row["per_job"], target, verdict(row["per_job"], target), ops])
            if verdict(row["per_job"], target) == "MISS":
                misses.append(f"N={size['n']} {row['sync_type']} {row['path']} "
                              f"({row['driver']}): {ops}")
    notes = ["requests the tool sent (aws.observe_calls), per job of that sync type; "
             "target: in sync 2, copy 3, +1 per pruned copy",
             "the prune path is measured with the in-process runner (both drivers call the "
             "same steps; the state machine's prune path enters the same states as copy)"]
    notes += [f"MISS {m}" for m in misses]
    print_table("1. AWS API calls per job",
                ["N", "path", "sync type", "driver", "calls/job", "target", "", "operations/job"],
                rows, notes)


def transitions(sizes: list[dict[str, Any]]) -> None:
    rows, sequences, overhead = [], {}, {}
    for size in sizes:
        for row in size["transitions"]:
            low, high = row["transitions"]
            target = TRANSITION_TARGETS.get(row["path"])
            rows.append([size["n"], row["run"], row["path"], row["jobs"], _range(low, high),
                         target, verdict(high, target), _range(*row["lambdas"])])
            sequences[row["path"]] = row["states"]
        for run, spent in size["overhead"].items():
            overhead[(size["n"], run)] = spent
    notes = [f"{path} ({len(states)}): " + " -> ".join(states)
             for path, states in sequences.items()]
    notes += [f"per execution, outside the Map (N={n}, {run}): {len(o['states'])} states "
              f"({', '.join(o['states'])}), {o['lambdas']} Lambda invocations"
              for (n, run), o in overhead.items() if n == max(s["n"] for s in sizes)]
    notes.append("targets: in sync <= 6, copy without polling <= 10 state transitions per job")
    print_table("2. State transitions and Lambda invocations per job (StateEntered / "
                "LambdaFunctionScheduled per Map iteration)",
                ["N", "execution", "path", "jobs", "transitions/job", "target", "",
                 "Lambdas/job"], rows, notes)


def history(sizes: list[dict[str, Any]]) -> None:
    """History events against the 25,000-event quota: the Map is INLINE, so every job's
    events are in the execution's one history."""
    rows, verdicts = [], []
    for size in sizes:
        for run, measured in size.get("history", {}).items():
            outside = size["overhead"][run]["events"]
            for row in (r for r in size["transitions"] if r["run"] == run):
                per_job = row["events"][1]
                fit = jobs_that_fit(per_job, outside)
                needed = outside + size["n"] * per_job  # had every job taken this path
                fits = needed <= HISTORY_LIMIT_EVENTS
                rows.append([size["n"], run, row["path"], row["jobs"], _range(*row["events"]),
                             measured["events"], fit, "fits" if fits else "FAILS on AWS"])
                if not fits:
                    verdicts.append(f"N={size['n']} {row['path']}: {needed:,} events > "
                                    f"{HISTORY_LIMIT_EVENTS:,}: FAILS on AWS")
            if measured["status"] != "SUCCEEDED":
                verdicts.append(f"N={size['n']} {run}: the execution {measured['status']} "
                                f"({measured['error']}) after {measured['events']:,} events")
    largest = max(sizes, key=lambda size: size["n"], default=None)
    for n in (n for n in PROJECTED_SIZES if largest and n > largest["n"]):
        for row in largest["transitions"]:
            needed = largest["overhead"][row["run"]]["events"] + n * row["events"][1]
            verdict_text = "fits" if needed <= HISTORY_LIMIT_EVENTS else "FAILS on AWS"
            verdicts.append(f"N={n} {row['path']} (projected from N={largest['n']}): "
                            f"{needed:,} events {'<=' if needed <= HISTORY_LIMIT_EVENTS else '>'}"
                            f" {HISTORY_LIMIT_EVENTS:,}: {verdict_text}")
    notes = [f"quota {HISTORY_LIMIT_EVENTS:,} events per execution history (Standard "
             "workflow); event 25,000, unless ExecutionSucceeded, is ExecutionFailed "
             "(States.Runtime)",
             "events/job per Map iteration (the INLINE Map puts every job's events in the "
             "execution's one history); 'max jobs' = (quota - events outside the Map) / "
             "events per job, had every job taken that path; +9 per poll, +3 per Lambda retry",
             *verdicts]
    print_table("2a. History events per execution (quota 25,000)",
                ["N", "execution", "path", "jobs", "events/job", "events (execution)",
                 "max jobs", "N jobs"], rows, notes)


def cost(sizes: list[dict[str, Any]]) -> None:
    rows = []
    for size in sizes:
        for row in size["transitions"]:
            spent = size["overhead"][row["run"]]
            price = costs.per_thousand_jobs(row["transitions"][1], row["lambdas"][1],
                                            len(spent["states"]), spent["lambdas"], size["n"])
            rows.append([size["n"], row["path"], round(price.transitions_per_job, 3),
                         f"${price.step_functions:.4f}", round(price.lambdas_per_job, 3),
                         f"${price.lambda_:.4f}", f"${price.total:.4f}"])
    print_table("2b. Cost per 1,000 job-runs", ["N (jobs/execution)", "path", "transitions/job",
                                                 "Step Functions", "Lambdas/job", "Lambda",
                                                 "total"],
                rows, [costs.assumptions()])


def payloads(sizes: list[dict[str, Any]]) -> None:
    rows, measured = [], []
    for size in sizes:
        for key, label in (("largest", "any"), ("largest_in_job", "inside one job")):
            payload = size["payload"].get(key)
            if payload:
                rows.append([size["n"], label, payload["bytes"],
                             f"{100 * payload['bytes'] / PAYLOAD_LIMIT_BYTES:.1f}%",
                             verdict(payload["bytes"], PAYLOAD_LIMIT_BYTES - 1),
                             f"{payload['event']} ({payload['run']})"])
        if size["payload"].get("largest"):
            measured.append((size["n"], size["payload"]["largest"]["bytes"]))
    notes = [f"limit {PAYLOAD_LIMIT_BYTES} bytes (256 KiB) for any state input/output; "
             "target: 1,000 jobs in one execution with every payload under it"]
    if len(measured) >= 2:
        (n1, b1), (n2, b2) = measured[-2:]
        per_job = (b2 - b1) / (n2 - n1)
        if per_job > 0:
            fits = int(n2 + (PAYLOAD_LIMIT_BYTES - 1 - b2) / per_job)
            notes.append(f"growth {per_job:.0f} bytes per job (N={n1}..{n2}): the largest "
                         f"payload reaches the limit at about {fits} jobs per execution")
    if any(r[4] == "MISS" for r in rows):
        notes.append("MISS: the payload that carries every job (config, job list or results) "
                     "grows linearly with N; on AWS the execution fails with "
                     "States.DataLimitExceeded")
    print_table("3. Largest state input/output", ["N", "where", "bytes", "of 256 KiB", "",
                                                  "event (execution)"], rows, notes)


def wall_times(sizes: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    rows = []
    for size in sizes:
        wall = size["wall_seconds"]
        runner, machine = wall.get(RUNNER, {}), wall.get(STATE_MACHINE, {})
        rows.append([size["n"], _s(runner.get("copy")), _s(runner.get("in sync")),
                     _s(machine.get("copy")), _s(machine.get("copy (execution only)")),
                     _s(machine.get("in sync")), _s(machine.get("in sync (execution only)")),
                     _s(wall.get("prune scenario (runner)"))])
    notes = [f"runner: {meta['runner_workers']} worker threads; state machine: Map "
             f"MaxConcurrency {meta['map_max_concurrency']} (template default); emulated AWS "
             "(moto) in one process on this machine, no AWS latency",
             "state machine 'total' includes fetching the execution history from moto "
             "(get_execution_history); 'execution' is ExecutionStarted..ExecutionSucceeded",
             "prune scenario: 3 setup runs + 2 measured runs of N jobs (runner)",
             "measured after a warm-up run (botocore model loading excluded)"]
    notes += meta.get("skipped", [])
    print_table("4. Wall time (seconds)", ["N", "runner copy", "runner in sync",
                                           "SFN copy total", "SFN copy execution",
                                           "SFN in sync total", "SFN in sync execution",
                                           "prune scenario"], rows, notes)


def import_time(measured: dict[str, Any]) -> None:
    median, spread = measured["median_ms"], measured["range_ms"]
    rows = [[group, round(median[group], 1), _range(*(round(v, 1) for v in spread[group])),
             IMPORT_TARGET_MS if group == BEYOND else None,
             verdict(median[group], IMPORT_TARGET_MS) if group == BEYOND else "-"]
            for group in ("boto3", "botocore", BEYOND)]
    rows.append(["total", round(median["total"], 1), "", None, "-"])
    notes = [f"`python -X importtime -c 'import {measured['module']}'` in a fresh interpreter, "
             f"median of {measured['repeats']}; modules the interpreter loads at startup "
             "excluded; 'botocore' also holds every module a plain `import boto3` loads "
             "(urllib3, dateutil, the stdlib modules it needs); 'beyond' is what this package "
             "adds on top, whatever the import order",
             "beyond boto3/botocore by package (ms): " + ", ".join(
                 f"{p} {ms:.1f}" for p, ms in measured["beyond_by_package_ms"].items()),
             "slowest beyond boto3/botocore (own ms): " + ", ".join(
                 f"{m} {ms:.1f}" for m, ms in measured["slowest_beyond_ms"].items())]
    if median[BEYOND] > IMPORT_TARGET_MS:
        notes.append("MISS: see the packages above; every handler imports the whole package "
                     "(xregion_sync/__init__ imports config, which imports PyYAML), though "
                     "only Load Config parses YAML")
    print_table("5. Cold import time of the Lambda handler module (ms)",
                ["part", "median", "range", "target", ""], rows, notes)


def _range(low: Any, high: Any) -> str:
    return f"{low}" if low == high else f"{low}-{high}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) else f"{value:.2f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("%", "").replace("$", "").isdigit()
