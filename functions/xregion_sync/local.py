"""The emulator's public names where users first met them: `xregion_sync.local.emulated_aws()`
and `xregion_sync.local.execute_state_machine()`.

The emulator itself is a test and demo harness beside this package
(emulator/xregion_sync_emulator), so it never ships in a function's zip; this alias is all
of it that does, and it imports the harness only when used.
"""

from __future__ import annotations

try:
    from xregion_sync_emulator import (
        AwsQuotas,
        ChildExecution,
        LocalExecution,
        emulated_aws,
        execute_state_machine,
    )
except ImportError as error:  # pragma: no cover - only outside a development install
    raise ImportError("xregion_sync.local needs the emulator (xregion_sync_emulator), which a "
                      "development install brings: run `make install` in a clone of "
                      "xregion-sync") from error

__all__ = ["AwsQuotas", "ChildExecution", "LocalExecution", "emulated_aws",
           "execute_state_machine"]
