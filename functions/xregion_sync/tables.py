"""The tables the CLI and the demo print: results of a run, and status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .result import WOULD_COPY, SyncResult
from .tags import parse_iso_utc

if TYPE_CHECKING:  # status and drills need AWS clients; printing a table does not
    from .drills import DrillResult
    from .status import JobStatus


def format_table(results: list[SyncResult]) -> str:
    rows = [("JOB", "TYPE", "STATUS", "RESOURCE", "MESSAGE")]
    for r in results:
        resource = r.created_resource or r.copy_id or ""  # in sync: the copy found
        if r.copy_state:
            resource = f"{resource} ({r.copy_state})".strip()
        message = "; ".join(e.message for e in r.errors)
        if r.status == WOULD_COPY and r.source_id:
            message = f"would copy {r.source_id}" + (f"; {message}" if message else "")
        if r.pruned:
            message = (message + "; " if message else "") + "pruned " + ", ".join(r.pruned)
        rows.append((r.name, r.sync_type or "?", r.status, resource, message))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  " + row[4]
        for row in rows
    )


def human_age(seconds: float | None) -> str:
    """3h 12m, 2d 4h, 45s; '-' when unknown."""
    if seconds is None:
        return "-"
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{secs}s"


def drill_cell(last: Mapping[str, Any] | None, now: datetime | None = None) -> str:
    """'passed 2d 3h ago in 11m 40s', or '-' when no drill is recorded."""
    if not last:
        return "-"
    when = parse_iso_utc(last.get("when") or "")
    ago = human_age(((now or datetime.now(UTC)) - when).total_seconds()) if when else "?"
    took = f" in {human_age(last['restore_seconds'])}" if last.get("restore_seconds") else ""
    return f"{last.get('status')} {ago} ago{took}"


def format_drill_table(results: Iterable[DrillResult]) -> str:
    rows = [("JOB", "TYPE", "STATUS", "COPY", "RESTORED", "RESTORE", "CLEANED UP", "MESSAGE")]
    for r in results:
        rows.append((r.name, r.sync_type or "?", r.status, r.copy_id or "-",
                     r.restored_id or "-", human_age(r.restore_seconds),
                     "yes" if r.cleaned_up else "NO", "; ".join(e.message for e in r.errors)))
    widths = [max(len(row[i]) for row in rows) for i in range(7)]
    return "\n".join(
        ("  ".join(cell.ljust(width) for cell, width in zip(row[:7], widths, strict=True))
         + "  " + row[7]).rstrip()
        for row in rows
    )


def format_status_table(statuses: Iterable[JobStatus]) -> str:
    rows = [("JOB", "TYPE", "SOURCE", "COPY", "AGE", "LIMIT", "LAST DRILL", "CHECK",
             "MESSAGE")]
    for s in statuses:
        copy = s.copy_id or ""
        if s.copy_state:
            copy = f"{copy} ({s.copy_state})"
        limit = f"{s.max_copy_age_hours}h" if s.max_copy_age_hours else "-"
        marker = " ".join(word for word, on in (
            ("STALE", s.stale), ("FAILED", s.errors), ("DRILL-FAILED", s.drill_failed),
            ("DRILL-OVERDUE", s.drill_overdue)) if on) or "ok"
        message = "; ".join(e.message for e in s.errors)
        rows.append((s.name, s.sync_type or "?", s.source_id or "-", copy or "-",
                     human_age(s.copy_age_seconds), limit, drill_cell(s.last_drill),
                     marker, message))
    widths = [max(len(row[i]) for row in rows) for i in range(8)]
    return "\n".join(
        ("  ".join(cell.ljust(width) for cell, width in zip(row[:8], widths, strict=True))
         + "  " + row[8]).rstrip()
        for row in rows
    )
