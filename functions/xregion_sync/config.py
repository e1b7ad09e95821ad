"""Config: YAML text, a file or a mapping -> validated, typed job specs.

Pure: no AWS calls. Every problem is a ConfigError naming the job and the field,
and all problems of a job are collected, so a user fixes the file in one pass.
A job with errors is still listed (it becomes a failed result); other jobs run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from botocore.session import get_session

from .errors import CONFIG_LEVEL, ConfigError
from .spec import (
    CLIENT_CONFIG_KEY,
    CLIENT_OPTIONS,
    COMMON_OPTIONS,
    TOP_LEVEL_OPTIONS,
    ClientConfig,
    JobSpec,
    Option,
    Problem,
    a_kind_of,
    check_restore_drill,
    check_wait_budget,
    field_of,
    not_text,
    show,
)
from .syncs import SYNC_TYPES
from .syncs.base import ProblemReporter, SyncType
from .tag_rules import MAX_VALUE_LENGTH, RESERVED_PREFIXES, value_problem
from .tags import TAG_JOB

JOB_PREFIX = "sync_"
# What a config is given as: a path, YAML text, or the parsed mapping (YAML allows keys
# of any type; only text keys can be jobs or settings).
ConfigSource = str | os.PathLike[str] | Mapping[Any, Any]

# About 20,000 jobs; Load Config (1024 MB) parses 10,000 (1.75 MB) with ~90 MiB at peak.
MAX_CONFIG_BYTES = 4 * 1024 * 1024

# ---------------------------------------------------------------- YAML loading


def read_config_source(source: ConfigSource) -> Mapping[Any, Any]:
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


def parse_yaml(text: str) -> Mapping[Any, Any]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the config is larger than {MAX_CONFIG_BYTES} bytes", job=CONFIG_LEVEL)
    import yaml

    from .yaml_loader import StrictLoader, YAMLError

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
            f"the top level of the config must be a mapping of jobs, not {a_kind_of(data)}",
            job=CONFIG_LEVEL,
        )
    return data


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


def load_config(source: ConfigSource) -> Config:
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
                where = field_of(key, exc)
                global_errors.append(ConfigError(f"field '{where}': {exc}", job=CONFIG_LEVEL,
                                                 field=where))
    global_errors += _per_job_options_at_top_level(data)
    entries = []
    for key, raw_job in data.items():
        if not (isinstance(key, str) and key.lower().startswith(JOB_PREFIX)):
            continue
        entries.append(_job_entry(key, raw_job, global_client, global_errors, global_defaults))
    entries = [_refuse_renamed_from_live_jobs(entry, {e.name for e in entries})
               for entry in entries]
    if not entries:
        hint = _top_level_hint(data)
        raise ConfigError(
            "the config defines no jobs: each job is a top-level key starting with "
            f"'{JOB_PREFIX}' (any case){hint}",
            job=CONFIG_LEVEL,
        )
    return Config(tuple(entries), notes=tuple(_ignored_top_level_keys(data)))


def _refuse_renamed_from_live_jobs(entry: JobEntry, names: set[str]) -> JobEntry:
    """A job may take over only the copies of a job that is gone: naming a job still in the
    config in renamed_from would hand that job's copies to this one's retention."""
    if entry.spec is None:
        return entry
    live = [name for name in entry.spec.options.get("renamed_from", ()) if name in names]
    if not live:
        return entry
    field_name = "renamed_from"
    errors = tuple(ConfigError(
        f"job '{entry.name}', field '{field_name}': '{name}' is still a job in this config"
        + (" (this job itself)" if name == entry.name else "")
        + ": its copies stay its own and are pruned only by its retention; remove "
        f"'{name}' from renamed_from, or remove the job '{name}' if this job replaces it",
        job=entry.name, field=field_name) for name in live)
    return JobEntry(entry.name, entry.sync_type, None, errors)


def _per_job_options_at_top_level(data: Mapping[Any, Any]) -> list[ConfigError]:
    """An error for each top-level key that is an option of a job but no default for every
    job: a retention or key written there would otherwise be ignored, and every job would
    run without it. The error fails every job, so nothing is pruned by a setting the user
    did not mean."""
    defaults = ", ".join(TOP_LEVEL_OPTIONS)
    per_job = {name for spec in (COMMON_OPTIONS, *(s.OPTIONS for s in SYNC_TYPES.values()))
               for name in _canonical_names(spec)} - set(TOP_LEVEL_OPTIONS) - {"sync_type"}
    return [ConfigError(f"field '{key}': is an option of each job, not a default for every "
                        f"job (only {defaults} may stand at the top level): move it into "
                        "each job it is meant for", job=CONFIG_LEVEL, field=key)
            for key in data if isinstance(key, str) and key in per_job]


def _ignored_top_level_keys(data: Mapping[Any, Any]) -> list[str]:
    """A note for each top-level key that is neither a job nor a setting: the original tool
    skipped them without a word, and a typo'd job (`snyc_db:`) then never ran."""
    settings = [CLIENT_CONFIG_KEY, *TOP_LEVEL_OPTIONS]
    errors = {error.field for error in _per_job_options_at_top_level(data)}
    notes = []
    for key in data:
        name = str(key)
        if name.lower().startswith(JOB_PREFIX) or name in settings or name in errors:
            continue
        typo = re.match(r"(?i)s[yn][nyc]{2}[_-]?", name) or re.match(r"(?i)sync", name)
        hint = (f"; did you mean '{JOB_PREFIX}{name[typo.end():].lstrip('_-')}'?" if typo
                else _did_you_mean(name, settings))
        notes.append(f"top-level key '{name}' is ignored: it is not a job (a job's key starts "
                     f"with '{JOB_PREFIX}') nor a setting ({', '.join(settings)}){hint}")
    return notes


def _top_level_hint(data: Mapping[Any, Any]) -> str:
    near = [str(k) for k in data if isinstance(k, str) and re.match(r"(?i)s[yn][nyc]{2}[_-]?", k)]
    return f"; did you mean to name {near[0]!r} 'sync_...'?" if near else ""


def job_name_problem(name: Any, service: str) -> str | None:
    """Why a job name cannot be a job's name, or None. The name is the value of the tag
    xregion-sync:job on every copy, so a name the service refuses as a tag value would
    fail every run of the job at AWS."""
    if not isinstance(name, str):
        return f"the job name {not_text(name)}"
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


def _job_entry(name: str, raw: Any, global_client: dict[str, Any],
               global_errors: list[ConfigError], global_defaults: dict[str, Any]) -> JobEntry:
    sync_type = raw.get("sync_type") if isinstance(raw, Mapping) else None
    sync_type = sync_type if isinstance(sync_type, str) else None
    sync = SYNC_TYPES.get(sync_type) if sync_type else None
    # An unknown type is an error of its own; EC2's rule (the length) holds for every type.
    name_errors = [ConfigError(f"job '{name}': {why}", job=str(name), field=str(name))
                   for why in [job_name_problem(name, sync.SERVICE if sync else "ec2")] if why]

    if not isinstance(raw, Mapping):
        error = ConfigError(
            f"job '{name}': must be a mapping of options, got {a_kind_of(raw)}", job=name
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
            problem("sync_type", f"must be one of {known}, got {show(raw.get('sync_type'))}"
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
    if sync is not None:
        sync.check_options(values, problem)
        interval_given = "poll_interval_seconds" in {*raw, *global_defaults}
        check_wait_budget(values, interval_given, problem)
        check_restore_drill(sync.SERVICE, raw.get("restore_drill"), problem)
    if errors or sync_type is None:  # (no type is one of the errors)
        return JobEntry(name, sync_type, None, tuple(errors))
    spec = JobSpec(
        name=name,
        sync_type=sync_type,
        source_region=values.pop("source_region"),
        destination_region=values.pop("destination_region"),
        options={k: v for k, v in values.items() if k != "sync_type" and v is not None},
        client=client_config,
    )
    notes = tuple(sync.advice(spec)) if sync is not None else ()
    return JobEntry(name, sync_type, spec, notes=notes)


def _option_values(raw: Mapping[Any, Any], sync: SyncType | None,
                   options_spec: dict[str, Option], global_defaults: dict[str, Any],
                   problem: ProblemReporter) -> dict[str, Any]:
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
            problem(field_of(str(key), exc), str(exc))
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


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib  # only when there is a mistake to explain: keeps Lambda cold starts short

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _client_config_mapping(raw: Any, job: str,
                           where: str) -> tuple[dict[str, Any], list[ConfigError]]:
    """Validate one aws_client_config mapping; aliases become canonical names."""
    if raw is None:
        return {}, []
    if not isinstance(raw, Mapping):
        return {}, [ConfigError(f"job '{job}', field '{where}': must be a mapping, got "
                                f"{a_kind_of(raw)}", job=job, field=where)]
    values: dict[str, Any] = {}
    errors: list[ConfigError] = []
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


def _client_config(job: str, values: dict[str, Any], errors: list[ConfigError]) -> ClientConfig:
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


def _check_regions(job: str, service: str, values: dict[str, Any],
                   problem: ProblemReporter) -> None:
    partitions: dict[str, str | None] = {}
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
