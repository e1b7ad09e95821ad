"""xregion-sync: disaster-recovery copies of EC2 AMIs and RDS snapshots in a second region.

    results = xregion_sync.run("config.yaml")   # one SyncResult per job
    statuses = xregion_sync.status("config.yaml")  # one JobStatus per job, read-only
    drills = xregion_sync.drill("config.yaml")  # one DrillResult per job with restore_drill
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public API, each name imported from its module when first used: the Lambdas import
# this package too, and each of them needs only its own step (no config, PyYAML, doctor).
_API = {
    "ConfigError": "errors", "SyncError": "errors", "Finding": "doctor", "doctor": "doctor",
    "JobError": "result", "SyncResult": "result", "JobStatus": "status", "status": "status",
    "load_config": "config", "run": "runner", "DrillResult": "drills", "drill": "drills",
}

if TYPE_CHECKING:
    from .config import load_config
    from .doctor import Finding, doctor
    from .drills import DrillResult, drill
    from .errors import ConfigError, SyncError
    from .result import JobError, SyncResult
    from .runner import run
    from .status import JobStatus, status


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)


class _Package(types.ModuleType):
    """Importing a submodule binds it on its package: `xregion_sync.status` and
    `xregion_sync.doctor` stay the API's functions, not the modules of the same name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = ["ConfigError", "DrillResult", "Finding", "JobError", "JobStatus", "SyncError",
           "SyncResult", "__version__", "doctor", "drill", "load_config", "run", "status"]
