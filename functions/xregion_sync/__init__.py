"""xregion-sync: disaster-recovery copies of EC2 AMIs and RDS snapshots in a second region.

    results = xregion_sync.run("config.yaml")   # one SyncResult per job
    statuses = xregion_sync.status("config.yaml")  # one JobStatus per job, read-only
    drills = xregion_sync.drill("config.yaml")  # one DrillResult per job with restore_drill
"""

__version__ = "0.1.0"

from .config import load_config  # noqa: E402
from .doctor import Finding, doctor  # noqa: E402
from .drills import DrillResult, drill  # noqa: E402
from .errors import ConfigError, SyncError  # noqa: E402
from .result import JobError, SyncResult  # noqa: E402
from .runner import run  # noqa: E402
from .status import JobStatus, status  # noqa: E402

__all__ = ["ConfigError", "DrillResult", "Finding", "JobError", "JobStatus", "SyncError",
           "SyncResult", "__version__", "doctor", "drill", "load_config", "run", "status"]
