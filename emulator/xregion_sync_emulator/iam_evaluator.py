"""The IAM evaluator of emulated AWS: @cloud-copilot/iam-simulate (with iam-data, the
Service Authorization Reference as data) in one long-lived Node process, spoken to in
JSON lines (iam_simulator/server.cjs says the protocol).

iam-simulate is AGPL-3.0-or-later: it is a test and demo tool here, run unmodified in a
separate process, installed by `make iam-simulator` into .tools/iam-simulator and never
part of the Lambda package or the Python distribution.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .template import PROJECT_ROOT

SERVER_DIR = Path(__file__).resolve().parent / "iam_simulator"
INSTALL_DIR_ENV = "XREGION_SYNC_IAM_SIMULATOR_DIR"
DEFAULT_INSTALL_DIR = PROJECT_ROOT / ".tools" / "iam-simulator"
EVALUATOR_PACKAGE = "@cloud-copilot/iam-simulate"
MAKE_TARGET = "make iam-simulator"


class EvaluatorUnavailable(RuntimeError):
    """The Node evaluator is not installed (or not the committed version)."""


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: dict[str, str | list[str]]
    # The resource's own policy where AWS evaluates one with the caller's (a KMS key
    # policy: without one that lets the account's IAM policies work, nothing is allowed).
    resource_policy: str | None = None
    # The account that owns the resource when it is not the caller's (another account's
    # KMS key): AWS then needs both the caller's policy and the resource's policy to allow.
    resource_account: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    result: str  # Allowed, ImplicitlyDenied or ExplicitlyDenied


def install_dir() -> Path:
    return Path(os.environ.get(INSTALL_DIR_ENV) or DEFAULT_INSTALL_DIR)


def check_installation() -> Path:
    """The install directory, after checking that it holds the committed versions."""
    where = install_dir()
    if shutil.which("node") is None:
        raise EvaluatorUnavailable("emulated AWS enforces IAM with a Node.js evaluator, and "
                                   "`node` is not on PATH: install Node.js 20+ and npm, then "
                                   f"run `{MAKE_TARGET}`")
    lock = json.loads((SERVER_DIR / "package-lock.json").read_text(encoding="utf-8"))
    for name, entry in lock["packages"].items():
        if not name.startswith("node_modules/"):
            continue
        installed = where / name / "package.json"
        if not installed.exists():
            raise EvaluatorUnavailable(f"the IAM evaluator is not installed in {where} "
                                       f"({name} is missing): run `{MAKE_TARGET}`")
        version = json.loads(installed.read_text(encoding="utf-8"))["version"]
        if version != entry["version"]:
            raise EvaluatorUnavailable(f"{where}/{name} is {version}, the committed lock says "
                                       f"{entry['version']}: run `{MAKE_TARGET}`")
    return where


class IamEvaluator:
    """One Node process; one request at a time (callers share it across threads)."""

    def __init__(self) -> None:
        modules = check_installation()
        self._process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
            ["node", str(SERVER_DIR / "server.cjs"), str(modules)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self._lock = threading.Lock()
        self._next_id = 0
        self._defined: dict[str, str] = {}  # key -> the JSON of the policies sent for it

    def define(self, key: str, policies: list[dict[str, Any]]) -> None:
        """Name a set of identity policies ([{name, policy}]) for later checks."""
        encoded = json.dumps(policies, sort_keys=True)
        if self._defined.get(key) != encoded:
            self._ask({"op": "define", "key": key, "policies": policies})
            self._defined[key] = encoded

    def check(self, key: str, principal: str, account: str,
              checks: list[Check]) -> list[Decision]:
        answer = self._ask({"op": "check", "key": key, "principal": principal,
                            "account": account,
                            "requests": [_request(c) for c in checks]})
        decisions = []
        for check, result in zip(checks, answer["results"], strict=True):
            if result["error"]:
                # A malformed question is a bug in the emulator's request model: say so.
                raise ValueError(f"IAM evaluator refused {check}: {result['error']}")
            decisions.append(Decision(result["decision"] == "Allowed", result["decision"]))
        return decisions

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            message = {**message, "id": self._next_id}
            assert self._process.stdin and self._process.stdout
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the IAM evaluator stopped (exit {self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("error") or answer.get("id") != message["id"]:
            raise RuntimeError(f"the IAM evaluator failed: {answer.get('error') or answer}")
        return answer

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin
            self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()


def _request(check: Check) -> dict[str, Any]:
    request: dict[str, Any] = {"action": check.action, "resource": check.resource,
                               "context": check.context}
    if check.resource_policy:
        request["resourcePolicy"] = json.loads(check.resource_policy)
    if check.resource_account:
        request["resourceAccount"] = check.resource_account
    return request


_shared: IamEvaluator | None = None
_shared_lock = threading.Lock()


def shared_evaluator() -> IamEvaluator:
    """The process's one evaluator (a test session's, a demo run's), started on first use."""
    global _shared  # noqa: PLW0603 - one Node process per Python process, by design
    with _shared_lock:
        if _shared is None:
            _shared = IamEvaluator()
            atexit.register(_shared.close)
        return _shared
