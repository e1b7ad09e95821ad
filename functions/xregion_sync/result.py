"""SyncResult: the outcome of one job, the same from both drivers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

COPIED = "copied"
IN_SYNC = "in_sync"
FAILED = "failed"
DEFERRED = "deferred"  # the destination's copy quota was full: the next run copies
WOULD_COPY = "would_copy"  # only in dry runs

# Results travel between states (256 KiB in all): a message is cut to this length there,
# and its full text stays in the task's log.
MAX_ERROR_MESSAGE_CHARS = 1000
# EC2 appends an encoded authorization message (~2 KB) to UnauthorizedOperation; it is
# useful only to `aws sts decode-authorization-message`, so results point to the log.
_ENCODED_AUTHORIZATION = re.compile(r"(Encoded authorization failure message:)\s*[\w+/=-]{40,}")


def capped_message(message: str) -> str:
    """The message as a result carries it: no encoded blob, at most the cap."""
    message = _ENCODED_AUTHORIZATION.sub(
        r"\1 (in the task log; decode it with `aws sts decode-authorization-message`)", message)
    if len(message) <= MAX_ERROR_MESSAGE_CHARS:
        return message
    cut = len(message) - MAX_ERROR_MESSAGE_CHARS
    return f"{message[:MAX_ERROR_MESSAGE_CHARS]}... ({cut} more characters in the task log)"


@dataclass(frozen=True)
class JobError:
    """An error of one job: the exception's class name and a message a user can act on."""

    type: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", capped_message(self.message))

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        return cls(type(exc).__name__, str(exc) or type(exc).__name__)


RESULT_KEYS = ("name", "sync_type", "status", "created_resource", "copy_state", "pruned",
               "errors")
RECORD_EXTRAS = ("copy_source_created", "source_id", "copy_id", "copy_job")


def contract_view(record: dict[str, Any]) -> dict[str, Any]:
    """A result record (to_record(), or any result dict) as the result contract."""
    return {key: record.get(key) for key in RESULT_KEYS}


@dataclass(frozen=True)
class SyncResult:
    name: str
    sync_type: str | None
    status: str
    created_resource: str | None = None
    copy_state: str | None = None
    pruned: list[str] = field(default_factory=list)
    errors: list[JobError] = field(default_factory=list)
    # Beyond the result contract (to_dict), carried between the steps (to_record) for the
    # metrics and the command line: when the source of the newest available copy was
    # created (ISO 8601 UTC; None when no copy is available), the source this run
    # resolved, and for in_sync the copy found (created_resource is only ever a copy
    # made by this run).
    copy_source_created: str | None = None
    source_id: str | None = None
    copy_id: str | None = None
    # Whose the copy the job relies on is (copy_id, or created_resource): the job's name, a
    # name in its renamed_from, or "(original tool)".
    copy_job: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @classmethod
    def failure(cls, name: str, sync_type: str | None,
                errors: Sequence[BaseException]) -> SyncResult:
        return cls(name, sync_type, FAILED, errors=[JobError.from_exception(e) for e in errors])

    def to_dict(self) -> dict[str, Any]:
        """The result contract, the same from both drivers and in an execution's output:
        exactly RESULT_KEYS."""
        return {
            "name": self.name,
            "sync_type": self.sync_type,
            "status": self.status,
            "created_resource": self.created_resource,
            "copy_state": self.copy_state,
            "pruned": list(self.pruned),
            "errors": [{"type": e.type, "message": e.message} for e in self.errors],
        }

    def to_record(self) -> dict[str, Any]:
        """to_dict() and the known extras: what Record Result hands to Summarize, which
        counts stale jobs with them and outputs contract_view() of each."""
        return {**self.to_dict(), **{key: getattr(self, key) for key in RECORD_EXTRAS
                                     if getattr(self, key)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyncResult:
        return cls(
            name=data["name"],
            sync_type=data.get("sync_type"),
            status=data["status"],
            created_resource=data.get("created_resource"),
            copy_state=data.get("copy_state"),
            pruned=list(data.get("pruned") or ()),
            errors=[JobError(e["type"], e["message"]) for e in data.get("errors") or ()],
            copy_source_created=data.get("copy_source_created"),
            source_id=data.get("source_id"),
            copy_id=data.get("copy_id"),
            copy_job=data.get("copy_job"),
        )
