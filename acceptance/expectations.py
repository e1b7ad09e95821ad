"""What a run of the tool should produce: the expected per-job results and the comparison
that the offline scenarios (tests/scenarios.py) and the acceptance suite on a real account
(acceptance/harness.py) both use, so a real account is held to the same outcomes."""

from __future__ import annotations

import re
from typing import Any


def result(name: str, sync_type: str, status: str, created: str | None = None,
           copy_state: str | None = None, pruned: list[str] | None = None,
           errors: list[tuple[str, str]] | tuple[()] = ()) -> dict[str, Any]:
    """One job's result as SyncResult.to_dict() gives it."""
    return {"name": name, "sync_type": sync_type, "status": status, "created_resource": created,
            "copy_state": copy_state, "pruned": list(pruned or ()),
            "errors": [{"type": t, "message": m} for t, m in errors]}


def rds_copy_id(source_snapshot_id: str) -> str:
    """The id of the copy of automated snapshot `rds:<name>-<time>`: `rds-<name>-<time>`."""
    return "rds-" + source_snapshot_id.removeprefix("rds:")


def mask_ids(value: Any) -> Any:
    """AMI ids -> <ami-N>, numbered in order of first appearance in `value`: AWS and the
    emulator make ids that differ in every run, and only which results share an id matters."""
    found: dict[str, str] = {}

    def mask(match: re.Match[str]) -> str:
        return found.setdefault(match.group(), f"<ami-{len(found) + 1}>")

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return re.sub(r"ami-[0-9a-f]{8,17}", mask, node)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        return node

    return walk(value)
