"""A job that waits for its copy polls inside its Standard child execution, whose history
holds at most 25,000 events: every wait the config accepts must fit. The config derives a
longer poll interval where the user left it at its default (a 48-hour time-based copy) and
refuses a wait that an interval the user chose cannot fit; the bound itself (MAX_POLLS) is
summed from the ASL and checked against the events the emulator's child records per poll."""

from __future__ import annotations

import json

import pytest
from conftest import DESTINATION, SOURCE

from xregion_sync.config import load_config
from xregion_sync.spec import CHILD_HISTORY_EVENTS, MAX_POLLS, polls_needed
from xregion_sync.steps import wait_plan
from xregion_sync_emulator import emulated_aws, execute_state_machine
from xregion_sync_emulator.seed import create_ami
from xregion_sync_emulator.template import PROJECT_ROOT

JOB = "sync_web"
ASL = PROJECT_ROOT / "statemachine" / "xregion_sync.asl.json"
WAITING_MAP = "Sync Jobs That Wait"
# The loops a waiting child repeats, each once per poll (both spend the job's poll budget).
POLL_LOOP = ("Wait For Completion?", "Wait For Copy", "Poll Copy Status")
COPY_SLOT_LOOP = ("Copy Started?", "Wait For Copy Slot", "Start Copy")


def ami_job(**options) -> dict:
    return {"sync_type": "ec2_ami", "sync_identifier": "web", "source_region": SOURCE,
            "destination_region": DESTINATION, **options}


def entry_of(job: dict, **top_level):
    (entry,) = load_config({JOB: job, **top_level}).entries
    return entry


# ---------------------------------------------------------------- the config's rule


def test_a_48_hour_time_based_wait_polls_less_often_so_that_it_fits():
    # GIVEN the longest time-based copy, waited for, at the default poll interval (60 s):
    # 172,860 s of waiting would be 2,881 polls
    entry = entry_of(ami_job(copy_completion_minutes=2880, wait_for_completion=True))

    # THEN the job is accepted, still waits until the copy's deadline, and polls less often
    options = entry.spec.options
    assert options["max_wait_seconds"] == 2880 * 60 + 60
    assert options["poll_interval_seconds"] == 87  # ceil(172,860 / 2,000)
    assert wait_plan(entry.spec)["max_polls"] <= MAX_POLLS
    assert wait_plan(entry.spec)["max_polls"] * 87 >= 2880 * 60  # it still waits long enough


@pytest.mark.parametrize("top_level", [False, True], ids=["job", "top-level"])
def test_a_wait_that_a_chosen_poll_interval_cannot_fit_is_refused_naming_both_fields(top_level):
    # GIVEN 10,000 s of waiting at 1-second polls: 10,000 polls, 5 times what a child holds
    wait = {"wait_for_completion": True, "max_wait_seconds": 10_000}
    if top_level:
        entry = entry_of(ami_job(**wait), poll_interval_seconds=1)
    else:
        entry = entry_of(ami_job(**wait, poll_interval_seconds=1))

    # THEN the job is refused, naming the field and the interval that would fit
    assert entry.spec is None
    [error] = entry.errors
    assert (error.job, error.field) == (JOB, "poll_interval_seconds")
    assert "10000 polls" in error.message
    assert "set poll_interval_seconds to 5 or more" in error.message
    assert "max_wait_seconds" in error.message


def test_a_chosen_interval_is_kept_when_the_wait_fits():
    entry = entry_of(ami_job(wait_for_completion=True, max_wait_seconds=10_000,
                             poll_interval_seconds=5))
    assert entry.spec.options["poll_interval_seconds"] == 5
    assert wait_plan(entry.spec)["max_polls"] == MAX_POLLS


def test_a_job_that_does_not_wait_keeps_its_settings():
    entry = entry_of(ami_job(max_wait_seconds=10_000, poll_interval_seconds=1))
    assert entry.errors == ()
    assert entry.spec.options["poll_interval_seconds"] == 1


# ---------------------------------------------------------------- the bound, from the ASL


def _events(state: dict, *, retried: bool) -> int:
    """History events of one visit of `state`: Entered and Exited, and for a Task
    Scheduled, Started and Succeeded/Failed per attempt (`retried`: every retry taken)."""
    if state["Type"] != "Task":
        return 2
    retries = sum(rule.get("MaxAttempts", 3) for rule in state.get("Retry", ())) if retried else 0
    return 2 + 3 * (1 + retries)


def _waiting_child_states() -> dict[str, dict]:
    states = json.loads(ASL.read_text(encoding="utf-8"))["States"]
    for branch in states["Sync Jobs"]["Branches"]:
        if WAITING_MAP in branch["States"]:
            processor = branch["States"][WAITING_MAP]["ItemProcessor"]
            assert processor["ProcessorConfig"]["ExecutionType"] == "STANDARD"
            return processor["States"]
    raise AssertionError(f"the ASL has no {WAITING_MAP!r} Map")


# Retried Lambda attempts the longest accepted wait must still have room for (each 3 events).
RETRIED_ATTEMPTS = 2_000


def test_the_longest_accepted_wait_fits_the_childs_history_with_room_for_retries():
    states = _waiting_child_states()
    for loop in (POLL_LOOP, COPY_SLOT_LOOP):  # each loop is what the ASL says it is
        for here, there in zip(loop, loop[1:] + loop[:1], strict=True):
            state = states[here]
            nexts = {state.get("Next"), state.get("Default"),
                     *(choice["Next"] for choice in state.get("Choices", ()))}
            assert there in nexts, f"{here} does not lead to {there}"
    per_poll = max(sum(_events(states[name], retried=False) for name in loop)
                   for loop in (POLL_LOOP, COPY_SLOT_LOOP))
    # Every state once more, each with all its retries taken (an over-estimate of the path
    # before and after the loop), and the execution's own start and end.
    outside = sum(_events(state, retried=True) for state in states.values()) + 2

    assert per_poll == 9
    assert outside + MAX_POLLS * per_poll + 3 * RETRIED_ATTEMPTS <= CHILD_HISTORY_EVENTS


@pytest.mark.statemachine
def test_the_emulators_child_records_what_the_asl_sum_counts_per_poll():
    """Two waits that time out after 1 and 3 polls (1-second polls, waited in emulated
    time): the child's history on the emulator grows by the ASL's per-poll events without
    retries (Choice 2, Wait 2, Task 5)."""
    lengths = {}
    for polls in (1, 3):
        # the copy never finishes while we wait
        with emulated_aws(copy_seconds=10**6, waits_pass_time=True):
            create_ami(SOURCE, "web-app", {"Sync-Identifier": "web"})
            job = ami_job(wait_for_completion=True, poll_interval_seconds=1,
                          max_wait_seconds=polls)
            execution = execute_state_machine({"config": {JOB: job}})
            [result] = execution.results()
            assert result.copy_state == "timed_out", result.to_dict()
            [child] = execution.child_executions()
            assert child.status == "SUCCEEDED"
            lengths[polls] = len(child.history)
    assert polls_needed(3, 1) - polls_needed(1, 1) == 2
    assert (lengths[3] - lengths[1]) / 2 == 9


@pytest.mark.statemachine
@pytest.mark.exhaustive  # 2,000 polls: a minute or two (make test-exhaustive)
def test_the_longest_accepted_wait_ends_inside_the_emulators_history_quota(monkeypatch):
    """A copy that never finishes, waited for as long as the config accepts at 5-second
    polls (MAX_POLLS polls, in emulated time), on the emulator's real quota of 25,000
    events per history: the child ends its wait (`timed_out`), it is not failed by the
    quota."""
    monkeypatch.setenv("XREGION_SYNC_LOG_LEVEL", "CRITICAL")
    longest = ami_job(wait_for_completion=True, poll_interval_seconds=5,
                      max_wait_seconds=5 * MAX_POLLS)
    assert entry_of(longest).errors == ()  # accepted, just
    with emulated_aws(copy_seconds=10**8, waits_pass_time=True):
        create_ami(SOURCE, "web-app", {"Sync-Identifier": "web"})
        execution = execute_state_machine({"config": {JOB: longest}})
        [result] = execution.results()
        [child] = execution.child_executions()
    assert (result.copy_state, child.status) == ("timed_out", "SUCCEEDED"), result.to_dict()
    assert len(child.history) < CHILD_HISTORY_EVENTS
