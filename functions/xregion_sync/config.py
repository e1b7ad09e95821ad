"""Config: YAML text, a file or a mapping -> validated, typed job specs.

Pure: no AWS calls. Every problem is a ConfigError naming the job and the field,
and all problems of a job are collected, so a user fixes the file in one pass.
A job with errors is still listed (it becomes a failed result); other jobs run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from botocore.session import get_session

from .errors import ConfigError
from .tag_rules import MAX_VALUE_LENGTH, RESERVED_PREFIXES, value_problem
from .tags import TAG_JOB

JOB_PREFIX = "sync_"
CLIENT_CONFIG_KEY = "aws_client_config"
CONFIG_LEVEL = "(config)"  # the "job" named in errors that concern the whole file

# About 20,000 jobs; Load Config (1024 MB) parses 10,000 (1.75 MB) with ~90 MiB at peak.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_YAML_ALIASES = 200  # generous for shared defaults
# Few aliases can still repeat a billion values (each level aliasing the one below), so
# what counts is how many YAML nodes the aliases repeat in total.
MAX_YAML_ALIAS_NODES = 10_000
MAX_STRING_LENGTH = 2048


class Problem(Exception):
    """A field-level validation failure; config turns it into a ConfigError."""


# ---------------------------------------------------------------- YAML loading


def read_config_source(source: str | os.PathLike | Mapping) -> Mapping:
    """Return the parsed top-level mapping of a path, a YAML string or a mapping."""
    if isinstance(source, Mapping):
        return source
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and _looks_like_path(source)
    ):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_CONFIG_BYTES:
                raise ConfigError(
                    f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes", job=CONFIG_LEVEL
                )
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}", job=CONFIG_LEVEL) from None
    elif isinstance(source, str):
        text = source
    else:
        raise ConfigError(
            f"the config must be a path, YAML text or a mapping, not {type(source).__name__}",
            job=CONFIG_LEVEL,
        )
    return parse_yaml(text)


def _looks_like_path(text: str) -> bool:
    if text.endswith((".yaml", ".yml", ".json")):
        return True
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # one-line YAML too long for a file name, or with a NUL
        return False


def parse_yaml(text: str) -> Mapping:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the config is larger than {MAX_CONFIG_BYTES} bytes", job=CONFIG_LEVEL)
    from .yaml_loader import StrictLoader, YAMLError, yaml

    try:
        data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except YAMLError as exc:
        raise ConfigError(f"the config is not valid YAML: {exc}", job=CONFIG_LEVEL) from None
    except RecursionError:
        raise ConfigError("the config nests too deeply", job=CONFIG_LEVEL) from None
    if data is None:
        raise ConfigError(
            "the config is empty: add at least one job (a top-level key starting with 'sync_')",
            job=CONFIG_LEVEL,
        )
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"the top level of the config must be a mapping of jobs, not {_a(_kind(data))}",
            job=CONFIG_LEVEL,
        )
    return data


# ---------------------------------------------------------------- field parsers


def _kind(value: Any) -> str:
    for kinds, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                        (Mapping, "mapping"), (list, "list"), (datetime, "date and time"),
                        (date, "date"), (type(None), "null")):
        if isinstance(value, kinds):
            return name
    return type(value).__name__


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


# How a number is written so that YAML reads it as the number a reader sees: 0, 2, 10, -3.
PLAIN_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
YAML_BOOLEANS = "in YAML, unquoted true, false, yes, no, on and off are booleans"


def _yaml_text(value: Any) -> str | None:
    """The scalar as written in the YAML file (yaml_loader keeps it), or None when the
    value came from Python or JSON."""
    written = getattr(value, "yaml_text", None)
    return written if isinstance(written, str) else None


def _got(value: Any) -> str:
    """', got ...' for a message about a wrong value; for a number or date YAML read from
    the file, ', but YAML read 0755 as the number 493'."""
    written = _yaml_text(value)
    if isinstance(value, bool):
        return f", got the boolean {str(value).lower()} ({YAML_BOOLEANS})"
    if isinstance(value, date):
        what = "a date and time" if isinstance(value, datetime) else "a date"
        return f", but YAML read {written} as {what}" if written else f", got {what} ({value})"
    if isinstance(value, int | float):
        if written is None:
            return f", got the number {value!r}"
        shown = "a number" if written == repr(value) else f"the number {value!r}"
        return f", but YAML read {written} as {shown}"
    if value is None:
        return ", got nothing (null)"
    return f", got {_a(_kind(value)) if isinstance(value, Mapping | list) else _show(value)}"


def _not_text(value: Any, what: str = "text") -> str:
    """Why a value that is not a string is refused, and what to write instead."""
    if isinstance(value, bool | int | float | date):
        written = _yaml_text(value)
        if written is None and not isinstance(value, bool):
            written = value.isoformat() if isinstance(value, date) else repr(value)
        return f"must be {what}{_got(value)}: quote it" + (f" ('{written}')" if written else "")
    if value is None:
        return f"must be {what}, got nothing (null): give a value or remove the key"
    return f"must be {what}{_got(value)}"


def text(value: Any) -> str:
    """A string option. Numbers, booleans and dates are refused, even 42: unquoted, YAML
    changes the meaning of too many values (0755 is 493, 1.10 is 1.1, yes is true)."""
    if not isinstance(value, str):
        raise Problem(_not_text(value))
    value = value.strip()
    if not value:
        raise Problem("must not be empty")
    if len(value) > MAX_STRING_LENGTH:
        raise Problem(f"is {len(value)} characters long; at most {MAX_STRING_LENGTH} allowed")
    return value


def _number_form(written: str) -> str | None:
    """How YAML read an int written as `written` when that is not plain decimal (the
    order of PyYAML's int constructor): 'octal', 'hexadecimal', ...; None when plain."""
    if PLAIN_DECIMAL.fullmatch(written):
        return None
    body = written.replace("_", "").lstrip("+-")
    forms = ((body.startswith("0b"), "binary"), (body.startswith("0x"), "hexadecimal"),
             (":" in body, "base 60"), (body.startswith("0") and body != "0", "octal"))
    return next((name for matches, name in forms if matches), "underscores")


def _read_number(written: str, value: int, form: str) -> str:
    if form == "underscores":
        return f"YAML reads {written} as {value} (it drops the underscores)"
    if form == "base 60":
        return f"YAML reads {written} as base 60 (like minutes:seconds), {value}"
    return f"YAML reads {written} as {form} {value}"


def _whole_number(value: Any) -> int:
    """An int written as a plain decimal number (or passed as an int from Python/JSON)."""
    wanted = "must be a whole number of 0 or more"
    if isinstance(value, int) and not isinstance(value, bool):
        written = _yaml_text(value)
        form = _number_form(written) if written is not None else None
        if form is None:
            return int(value)
        digits = written.replace("_", "")
        meant = (f", or {int(digits)} if you meant decimal {int(digits)}"
                 if form == "octal" and int(digits) != value else "")
        raise Problem(f"{_read_number(written, value, form)}: write it as a plain decimal "
                      f"number: {int(value)}{meant}")
    if isinstance(value, float):
        written = _yaml_text(value)
        got = (f", but YAML read {written} as a floating-point number" if written
               else f", got the floating-point number {value!r}")
        hint = f"write {int(value)}" if value.is_integer() else "write a whole number"
        raise Problem(f"{wanted}{got}: {hint}, as a plain decimal number")
    if isinstance(value, str):
        octal = re.fullmatch(r"([-+]?)0o([0-7]+)", value.strip())
        if octal:
            number, meant = int(octal[1] + octal[2], 8), int(octal[1] + octal[2])
            raise Problem(f"{wanted}, got {value!r}: write it as a plain decimal number: "
                          f"{number}, or {meant} if you meant decimal {meant}")
        if PLAIN_DECIMAL.fullmatch(value.strip()):
            raise Problem(f"{wanted}, got the text {value!r}: remove the quotes")
        raise Problem(f"{wanted}{_got(value)}: write a plain decimal number, like 2")
    raise Problem(f"{wanted}{_got(value)}")


def non_negative_int(value: Any) -> int:
    number = _whole_number(value)
    if number < 0:
        raise Problem(f"must be 0 or more, got {number}")
    if number > 10_000:
        raise Problem(f"must be at most 10000, got {number}")
    return number


def boolean(value: Any) -> bool:
    """true or false; YAML 1.1's yes/no/on/off too, as the original (Ruby, Psych) read them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
            "true", "false", "yes", "no", "on", "off"):
        raise Problem(f"must be true or false, got the text {value!r}: remove the quotes")
    raise Problem(f"must be true or false{_got(value)}")


def _account_digits(value: int, what: str) -> str:
    """An account id YAML or JSON gave as a number: only plain decimal digits count.
    A number loses leading zeros (JSON has no other way to write 012345678901)."""
    written = _yaml_text(value)
    form = _number_form(written) if written is not None else None
    if form is not None or (written is not None and not written.isdigit()):
        read = _read_number(written, value, form) if form else f"YAML reads {written} as {value}"
        raise Problem(f"must be {what}, but {read}, another account: quote it ('{written}')")
    if value < 0:
        raise Problem(f"must be {what}, got {value}")
    return str(int(value)).zfill(12)


def account_id(value: Any) -> str:
    """12-digit AWS account id; the original accepted dashes (4321-4321-4321)."""
    what = "a 12-digit AWS account id"
    if isinstance(value, int) and not isinstance(value, bool):
        digits = _account_digits(value, what)
    elif isinstance(value, str):
        digits = value.replace("-", "").strip()
    else:
        raise Problem(_not_text(value, what))
    if not re.fullmatch(r"\d{12}", digits):
        raise Problem(f"must be {what} (dashes allowed), got {_show(value)}")
    return digits


def iam_role_arn(value: Any) -> str:
    """An IAM role ARN (arn:<partition>:iam::<account>:role/<path/name>)."""
    arn = text(value)
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
        raise Problem(f"must be an IAM role ARN like arn:aws:iam::111122223333:role/name, "
                      f"got {_show(value)}")
    return arn


def ami_owner(value: Any) -> str:
    """An owner for DescribeImages: an account id (dashes dropped) or an alias like 'self'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _account_digits(value, "an account id or an alias like self")
    owner = text(value)
    return owner.replace("-", "") if re.fullmatch(r"[\d-]+", owner) else owner


def ec2_filters(value: Any) -> list[dict[str, Any]]:
    """The original's ["name=value", ...] or mappings {name, values}: EC2 Filter shapes.

    Entries are kept separate, never merged: AWS ANDs two entries with the same name,
    while one entry with two values would OR them.
    """
    if not isinstance(value, list):
        raise Problem(f"must be a list of 'name=value' strings, got {_a(_kind(value))}")
    filters = []
    for index, item in enumerate(value):
        where = f"entry {index + 1}"
        if isinstance(item, str):
            if item.count("=") != 1:
                raise Problem(
                    f"{where} {item!r} must be 'name=value' with exactly one '='; "
                    "for a value containing '=' write {name: ..., values: [...]}"
                )
            name, val = (part.strip() for part in item.split("="))
            if not name or not val:
                raise Problem(f"{where} {item!r} needs both a name and a value")
            filters.append({"Name": name, "Values": [val]})
        elif isinstance(item, Mapping):
            unknown = set(item) - {"name", "values"}
            if unknown or "name" not in item or "values" not in item:
                raise Problem(f"{where} must have exactly the keys 'name' and 'values'")
            values = item["values"] if isinstance(item["values"], list) else [item["values"]]
            try:
                filters.append({"Name": text(item["name"]), "Values": [text(v) for v in values]})
            except Problem as exc:
                raise Problem(f"{where}: {exc}") from None
            if not values:
                raise Problem(f"{where} needs at least one value")
        else:
            raise Problem(f"{where} must be a 'name=value' string, got {_a(_kind(item))}")
    return filters


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One config key of a sync type: how to parse it and its default."""

    parse: Callable[[Any], Any]
    default: Any = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    doc: str = ""


def job_names(value: Any) -> list[str]:
    """One job name or a list of them (renamed_from)."""
    names = value if isinstance(value, list) else [value]
    parsed = [text(name) for name in names]
    if not parsed:
        raise Problem("must name at least one job (or leave the key out)")
    return parsed


def positive_int(value: Any) -> int:
    number = non_negative_int(value)
    if number < 1:
        raise Problem(f"must be 1 or more, got {number}")
    return number


def days_up_to_ten_years(value: Any) -> int:
    """A whole number of days from 1 to 3650: EC2 refuses a deprecation time in the past
    or more than 10 years ahead (EnableImageDeprecation's DeprecateAt)."""
    number = _whole_number(value)
    if not 1 <= number <= 3650:
        raise Problem(f"must be a whole number of days from 1 to 3650 (10 years, EC2's "
                      f"limit for a deprecation time), got {number}")
    return number


def quarter_hour_minutes(value: Any) -> int:
    """Minutes from 15 to 2880 (48 hours) in steps of 15: EC2's time-based copy completion
    duration (CopyImage's SnapshotCopyCompletionDurationMinutes)."""
    number = _whole_number(value)
    if not 15 <= number <= 2880 or number % 15:
        raise Problem(f"must be a number of minutes from 15 to 2880 (48 hours) in steps of "
                      f"15, got {number}")
    return number


# Settings that may also stand at the top level, as defaults for every job.
WAIT_OPTIONS: dict[str, Option] = {
    "wait_for_completion": Option(boolean, default=False,
                                  doc="wait for the copy to finish and report its final state"),
    "poll_interval_seconds": Option(positive_int, default=60, doc="seconds between polls"),
    "max_wait_seconds": Option(non_negative_int, default=3600,
                               doc="stop waiting after this long; the result says timed_out"),
}

# How old (by its source's creation time) a job's newest available copy may be before
# `xregion-sync status` and the StaleJobs metric call the job stale.
STATUS_OPTIONS: dict[str, Option] = {
    "max_copy_age_hours": Option(positive_int, default=48,
                                 doc="hours the newest available copy's source may be old "
                                     "before the job counts as stale"),
}

# Every setting that may stand at the top level as a default for every job.
TOP_LEVEL_OPTIONS: dict[str, Option] = {**WAIT_OPTIONS, **STATUS_OPTIONS}

COMMON_OPTIONS: dict[str, Option] = {
    "sync_type": Option(text, required=True, doc="ec2_ami, rds_automated_snapshot or "
                                                 "rds_cluster_snapshot"),
    "source_region": Option(text, required=True, doc="region the source is in"),
    "destination_region": Option(text, required=True, doc="region the copy goes to"),
    "renamed_from": Option(job_names, doc="earlier names of this job: their copies are this "
                                          "job's (kept and pruned by its retention)"),
    **WAIT_OPTIONS,
    **STATUS_OPTIONS,
}


# ---------------------------------------------------------------- aws_client_config

CLIENT_OPTIONS: dict[str, Option] = {
    "aws_access_key_id": Option(text, aliases=("aws_access_key",)),
    "aws_secret_access_key": Option(text, aliases=("aws_secret_key",)),
    "aws_session_token": Option(text),
    "profile": Option(text),
    "region": Option(text, doc="region for STS and Secrets Manager calls"),
    "endpoint_url": Option(text),
    "role_arn": Option(iam_role_arn),
    "external_id": Option(text),
    "role_session_name": Option(text),
    "credentials_secret_arn": Option(text),
    "aws_account_id": Option(account_id),
    "max_attempts": Option(positive_int,
                           doc="SDK attempts per call (retries + 1), 1 or more"),
}
SECRET_CLIENT_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


@dataclass(frozen=True)
class ClientConfig:
    """How to build AWS clients for a job. Only the aws layer turns it into clients."""

    # Keys stay out of repr(), so a logged or printed spec never shows them.
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    role_session_name: str | None = None
    credentials_secret_arn: str | None = None
    aws_account_id: str | None = None
    max_attempts: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @property
    def has_static_keys(self) -> bool:
        return any(getattr(self, key) for key in SECRET_CLIENT_KEYS)


@dataclass(frozen=True)
class JobSpec:
    """A validated job: what to sync, where, and with which client settings."""

    name: str
    sync_type: str
    source_region: str
    destination_region: str
    options: Mapping[str, Any]
    client: ClientConfig = field(default_factory=ClientConfig)

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-able form: options at their defaults are left out, because
        a state machine passes this for every job and payloads are limited."""
        defaults = option_defaults(self.sync_type)
        data = {
            "name": self.name,
            "sync_type": self.sync_type,
            "source_region": self.source_region,
            "destination_region": self.destination_region,
            "options": {k: v for k, v in self.options.items() if defaults.get(k) != v},
        }
        if self.client.to_dict():
            data["client"] = self.client.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        defaults = option_defaults(data["sync_type"])
        return cls(
            name=data["name"],
            sync_type=data["sync_type"],
            source_region=data["source_region"],
            destination_region=data["destination_region"],
            options={**defaults, **(data.get("options") or {})},
            client=ClientConfig(**(data.get("client") or {})),
        )


@dataclass(frozen=True)
class JobEntry:
    """A job as configured: its spec when valid, else the errors that stop it."""

    name: str
    sync_type: str | None
    spec: JobSpec | None
    errors: tuple[ConfigError, ...] = ()
    notes: tuple[str, ...] = ()  # advice on a valid job that may still find nothing


@dataclass(frozen=True)
class Config:
    entries: tuple[JobEntry, ...]
    notes: tuple[str, ...] = ()  # top-level keys that are neither a job nor a setting

    @property
    def jobs(self) -> list[JobSpec]:
        return [entry.spec for entry in self.entries if entry.spec]

    @property
    def errors(self) -> list[ConfigError]:
        return [error for entry in self.entries for error in entry.errors]


def option_defaults(sync_type: str) -> dict[str, Any]:
    from .syncs import SYNC_TYPES

    sync = SYNC_TYPES.get(sync_type)
    options = {**COMMON_OPTIONS, **(sync.OPTIONS if sync else {})}
    return {name: o.default for name, o in options.items() if o.default not in (None, ())}


def load_config(source: str | os.PathLike | Mapping) -> Config:
    """Parse and validate a config. Raises ConfigError only when no job can be read."""
    data = read_config_source(source)
    global_client, global_errors = _client_config_mapping(
        data.get(CLIENT_CONFIG_KEY), CONFIG_LEVEL, CLIENT_CONFIG_KEY
    )
    global_defaults = {}
    for key, option in TOP_LEVEL_OPTIONS.items():
        if key in data:
            try:
                global_defaults[key] = option.parse(data[key])
            except Problem as exc:
                global_errors.append(ConfigError(f"field '{key}': {exc}", job=CONFIG_LEVEL,
                                                 field=key))
    entries = []
    for key, raw_job in data.items():
        if not (isinstance(key, str) and key.lower().startswith(JOB_PREFIX)):
            continue
        entries.append(_job_entry(key, raw_job, global_client, global_errors, global_defaults))
    if not entries:
        hint = _top_level_hint(data)
        raise ConfigError(
            "the config defines no jobs: each job is a top-level key starting with "
            f"'{JOB_PREFIX}' (any case){hint}",
            job=CONFIG_LEVEL,
        )
    return Config(tuple(entries), notes=tuple(_ignored_top_level_keys(data)))


def _ignored_top_level_keys(data: Mapping) -> list[str]:
    """A note for each top-level key that is neither a job nor a setting: the original tool
    skipped them without a word, and a typo'd job (`snyc_db:`) then never ran."""
    settings = [CLIENT_CONFIG_KEY, *TOP_LEVEL_OPTIONS]
    notes = []
    for key in data:
        name = str(key)
        if name.lower().startswith(JOB_PREFIX) or name in settings:
            continue
        typo = re.match(r"(?i)s[yn][nyc]{2}[_-]?", name) or re.match(r"(?i)sync", name)
        hint = (f"; did you mean '{JOB_PREFIX}{name[typo.end():].lstrip('_-')}'?" if typo
                else _did_you_mean(name, settings))
        notes.append(f"top-level key '{name}' is ignored: it is not a job (a job's key starts "
                     f"with '{JOB_PREFIX}') nor a setting ({', '.join(settings)}){hint}")
    return notes


def _top_level_hint(data: Mapping) -> str:
    near = [str(k) for k in data if isinstance(k, str) and re.match(r"(?i)s[yn][nyc]{2}[_-]?", k)]
    return f"; did you mean to name {near[0]!r} 'sync_...'?" if near else ""


def job_name_problem(name: Any, service: str) -> str | None:
    """Why a job name cannot be a job's name, or None. The name is the value of the tag
    xregion-sync:job on every copy, so a name the service refuses as a tag value would
    fail every run of the job at AWS."""
    if not isinstance(name, str):
        return f"the job name {_not_text(name)}"
    if not name.strip():
        return "the job name is empty: name the job 'sync_<something>'"
    why = value_problem(service, name)
    if why is None:
        return None
    if len(name) > MAX_VALUE_LENGTH:
        advice = f"shorten the name to at most {MAX_VALUE_LENGTH} characters"
    elif name.lower().startswith(RESERVED_PREFIXES.get(service, ())):
        advice = "rename the job so that it does not begin with that"
    else:
        advice = "rename the job using only those characters"
    return (f"its name becomes the value of the tag {TAG_JOB} on every copy, and {why}: "
            f"{advice}")


def _job_entry(name: str, raw: Any, global_client: dict, global_errors: list,
               global_defaults: dict) -> JobEntry:
    from .syncs import SYNC_TYPES  # the registry: config knows types only through it

    sync_type = raw.get("sync_type") if isinstance(raw, Mapping) else None
    sync_type = sync_type if isinstance(sync_type, str) else None
    sync = SYNC_TYPES.get(sync_type) if sync_type else None
    # An unknown type is an error of its own; EC2's rule (the length) holds for every type.
    name_errors = [ConfigError(f"job '{name}': {why}", job=str(name), field=str(name))
                   for why in [job_name_problem(name, sync.SERVICE if sync else "ec2")] if why]

    if not isinstance(raw, Mapping):
        error = ConfigError(
            f"job '{name}': must be a mapping of options, got {_a(_kind(raw))}", job=name
        )
        return JobEntry(name, None, None, (*name_errors, error))

    errors: list[ConfigError] = name_errors + [
        ConfigError(f"job '{name}': {e.message}", job=name, field=e.field) for e in global_errors
    ]

    def problem(field_name: str, message: str) -> None:
        errors.append(ConfigError(f"job '{name}', field '{field_name}': {message}",
                                  job=name, field=field_name))

    if sync is None:
        known = ", ".join(sorted(SYNC_TYPES))
        if "sync_type" not in raw:
            problem("sync_type", f"is required: one of {known}")
        else:
            problem("sync_type", f"must be one of {known}, got {_show(raw.get('sync_type'))}"
                    + _did_you_mean(str(raw.get("sync_type")), SYNC_TYPES))
    options_spec = {**COMMON_OPTIONS, **(sync.OPTIONS if sync else {})}

    values = {"sync_type": sync_type,  # checked against the registry above
              **_option_values(raw, sync, options_spec, global_defaults, problem)}

    job_client, client_errors = _client_config_mapping(
        raw.get(CLIENT_CONFIG_KEY), name, CLIENT_CONFIG_KEY
    )
    errors += client_errors
    client = {**global_client, **job_client}  # job values win, as in the original
    client_config = _client_config(name, client, errors)

    _check_regions(name, sync.SERVICE if sync else "ec2", values, problem)
    if sync is not None and hasattr(sync, "check_options"):
        sync.check_options(values, problem)
    if errors:
        return JobEntry(name, sync_type, None, tuple(errors))
    spec = JobSpec(
        name=name,
        sync_type=sync_type,
        source_region=values.pop("source_region"),
        destination_region=values.pop("destination_region"),
        options={k: v for k, v in values.items() if k != "sync_type" and v is not None},
        client=client_config,
    )
    notes = tuple(sync.advice(spec)) if hasattr(sync, "advice") else ()
    return JobEntry(name, sync_type, spec, notes=notes)


def _option_values(raw: Mapping, sync, options_spec: dict[str, Option],
                   global_defaults: dict, problem: Callable[[str, str], None]) -> dict:
    """Parse a job's options: aliases resolved, top-level defaults and defaults applied."""
    values: dict[str, Any] = {}
    by_name = _canonical_names(options_spec)
    for key, value in raw.items():
        if key in (CLIENT_CONFIG_KEY, "sync_type"):
            continue
        canonical = by_name.get(key) if isinstance(key, str) else None
        if canonical is None:
            if sync is not None:
                problem(str(key), f"is not an option of {sync.NAME} jobs"
                        + _did_you_mean(str(key), [*by_name, CLIENT_CONFIG_KEY]))
            continue
        if canonical in values:
            problem(str(key), f"is given twice (as '{canonical}' and an alias); keep one")
            continue
        try:
            values[canonical] = options_spec[canonical].parse(value)
        except Problem as exc:
            problem(str(key), str(exc))
            values[canonical] = None
    for option_name, option in options_spec.items():
        if option_name in values or option_name == "sync_type":
            continue
        if option_name in global_defaults:
            values[option_name] = global_defaults[option_name]
        elif option.required:
            problem(option_name, "is required" + (f" ({option.doc})" if option.doc else ""))
        else:
            values[option_name] = option.default
    return values


def _canonical_names(spec: Mapping[str, Option]) -> dict[str, str]:
    names = {}
    for option_name, option in spec.items():
        names[option_name] = option_name
        for alias in option.aliases:
            names[alias] = option_name
    return names


def _did_you_mean(word: str, choices) -> str:
    import difflib  # only when there is a mistake to explain: keeps Lambda cold starts short

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _client_config_mapping(raw: Any, job: str, where: str) -> tuple[dict, list[ConfigError]]:
    """Validate one aws_client_config mapping; aliases become canonical names."""
    if raw is None:
        return {}, []
    if not isinstance(raw, Mapping):
        return {}, [ConfigError(f"job '{job}', field '{where}': must be a mapping, got "
                                f"{_a(_kind(raw))}", job=job, field=where)]
    values, errors = {}, []
    names = _canonical_names(CLIENT_OPTIONS)
    for key, value in raw.items():
        field_name = f"{where}.{key}"
        canonical = names.get(key) if isinstance(key, str) else None
        if canonical is None:
            errors.append(ConfigError(
                f"job '{job}', field '{field_name}': is not a known client setting"
                + _did_you_mean(str(key), names), job=job, field=field_name))
        elif canonical in values:
            errors.append(ConfigError(
                f"job '{job}', field '{field_name}': '{canonical}' is given twice "
                "(under its own name and an alias); keep one", job=job, field=field_name))
        else:
            try:
                values[canonical] = CLIENT_OPTIONS[canonical].parse(value)
            except Problem as exc:
                errors.append(ConfigError(f"job '{job}', field '{field_name}': {exc}",
                                          job=job, field=field_name))
    return values, errors


def _client_config(job: str, values: dict, errors: list[ConfigError]) -> ClientConfig:
    def problem(key: str, message: str) -> None:
        field_name = f"{CLIENT_CONFIG_KEY}.{key}"
        errors.append(ConfigError(f"job '{job}', field '{field_name}': {message}",
                                  job=job, field=field_name))

    has_key, has_secret = "aws_access_key_id" in values, "aws_secret_access_key" in values
    if has_key != has_secret:
        missing = "aws_secret_access_key" if has_key else "aws_access_key_id"
        problem(missing, "is required when the other half of the access key is given")
    if has_key and "profile" in values:
        problem("profile", "give either a profile or access keys, not both")
    if "credentials_secret_arn" in values and (has_key or "profile" in values):
        problem("credentials_secret_arn", "give either a credentials secret, a profile or "
                "access keys, not several")
    for key in ("external_id", "role_session_name"):
        if key in values and "role_arn" not in values:
            problem(key, "only applies together with 'role_arn'")
    if "region" in values and values["region"] not in _all_regions():
        problem("region", f"{values['region']!r} is not a known AWS region")
    return ClientConfig(**values)


# ---------------------------------------------------------------- regions


@cache
def _regions_by_partition(service: str) -> dict[str, frozenset[str]]:
    session = get_session()
    return {
        partition: frozenset(session.get_available_regions(service, partition))
        for partition in session.get_available_partitions()
    }


@cache
def _all_regions() -> frozenset[str]:
    return frozenset().union(*_regions_by_partition("ec2").values())


def partition_of(region: str, service: str = "ec2") -> str | None:
    for partition, regions in _regions_by_partition(service).items():
        if region in regions:
            return partition
    return None


def _check_regions(job: str, service: str, values: dict, problem) -> None:
    partitions = {}
    for key in ("source_region", "destination_region"):
        region = values.get(key)
        if not region:
            continue
        partition = partition_of(region, service)
        if partition is None:
            close = _did_you_mean(region, _all_regions())
            problem(key, f"{region!r} is not an AWS region where {service} is available "
                    f"(per the installed botocore){close}")
        partitions[key] = partition
    source, destination = values.get("source_region"), values.get("destination_region")
    if source and destination and source == destination:
        problem("destination_region", f"is the same as source_region ({source}); a disaster-"
                "recovery copy must go to another region")
    elif None not in partitions.values() and len(set(partitions.values())) > 1:
        problem("destination_region", f"{destination} is in partition "
                f"{partitions['destination_region']} but {source} is in "
                f"{partitions['source_region']}; copies cannot cross partitions")
