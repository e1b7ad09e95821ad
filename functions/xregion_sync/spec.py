"""What a validated job is, and how each config value is read.

A leaf module (it imports no other part of the tool but errors, tags and tag_rules), so
that config, the sync types and the aws layer all build on it without import circles:

  ValueKind  how one kind of value is read (`text`, `boolean`, `positive_int`...) and its
             JSON Schema fragment: config.schema.json is built from the options alone.
  Option     one config key: its kind, default, aliases and documentation.
  JobSpec    a validated job; ClientConfig its AWS client settings.

Every reader raises Problem with a message saying what is wrong and what to write
instead; config turns it into a ConfigError naming the job and the field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

MAX_STRING_LENGTH = 2048
CLIENT_CONFIG_KEY = "aws_client_config"

T = TypeVar("T")


class Problem(Exception):
    """A field-level validation failure; config turns it into a ConfigError. `key`: the
    key inside a mapping option that is wrong (its field becomes 'option.key')."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def field_of(option: str, problem: Problem) -> str:
    """The field a problem is about: the option, or the key inside it."""
    return f"{option}.{problem.key}" if problem.key else option


@dataclass(frozen=True)
class ValueKind(Generic[T]):
    """How one kind of config value is read, and its JSON Schema fragment. Called like
    the reader it wraps: `text(value)`."""

    read: Callable[[Any], T]
    schema: Mapping[str, Any]

    def __call__(self, value: Any) -> T:
        return self.read(value)


def value_kind(schema: Mapping[str, Any]) -> Callable[[Callable[[Any], T]], ValueKind[T]]:
    """Decorator: the reader below, with the JSON Schema of the values it accepts."""

    def wrap(read: Callable[[Any], T]) -> ValueKind[T]:
        return ValueKind(read, schema)

    return wrap


# ---------------------------------------------------------------- value kinds


def _kind(value: Any) -> str:
    for kinds, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                        (Mapping, "mapping"), (list, "list"), (datetime, "date and time"),
                        (date, "date"), (type(None), "null")):
        if isinstance(value, kinds):
            return name
    return type(value).__name__


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def a_kind_of(value: Any) -> str:
    """'a mapping', 'an integer': what a wrong value is, for a message."""
    return _a(_kind(value))


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
    return f", got {_a(_kind(value)) if isinstance(value, Mapping | list) else show(value)}"


def not_text(value: Any, what: str = "text") -> str:
    """Why a value that is not a string is refused, and what to write instead."""
    if isinstance(value, bool | int | float | date):
        written = _yaml_text(value)
        if written is None and not isinstance(value, bool):
            written = value.isoformat() if isinstance(value, date) else repr(value)
        return f"must be {what}{_got(value)}: quote it" + (f" ('{written}')" if written else "")
    if value is None:
        return f"must be {what}, got nothing (null): give a value or remove the key"
    return f"must be {what}{_got(value)}"


@value_kind({"type": "string", "minLength": 1})
def text(value: Any) -> str:
    """A string option. Numbers, booleans and dates are refused, even 42: unquoted, YAML
    changes the meaning of too many values (0755 is 493, 1.10 is 1.1, yes is true)."""
    if not isinstance(value, str):
        raise Problem(not_text(value))
    stripped = value.strip()
    if not stripped:
        raise Problem("must not be empty")
    if len(stripped) > MAX_STRING_LENGTH:
        raise Problem(f"is {len(stripped)} characters long; at most {MAX_STRING_LENGTH} "
                      "allowed")
    return stripped


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
        if written is None or form is None:
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
            as_octal, as_decimal = int(octal[1] + octal[2], 8), int(octal[1] + octal[2])
            raise Problem(f"{wanted}, got {value!r}: write it as a plain decimal number: "
                          f"{as_octal}, or {as_decimal} if you meant decimal {as_decimal}")
        if PLAIN_DECIMAL.fullmatch(value.strip()):
            raise Problem(f"{wanted}, got the text {value!r}: remove the quotes")
        raise Problem(f"{wanted}{_got(value)}: write a plain decimal number, like 2")
    raise Problem(f"{wanted}{_got(value)}")


@value_kind({"type": "integer", "minimum": 0, "maximum": 10_000})
def non_negative_int(value: Any) -> int:
    number = _whole_number(value)
    if number < 0:
        raise Problem(f"must be 0 or more, got {number}")
    if number > 10_000:
        raise Problem(f"must be at most 10000, got {number}")
    return number


@value_kind({"type": "boolean"})
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
    if written is not None and (form is not None or not written.isdigit()):
        read = _read_number(written, value, form) if form else f"YAML reads {written} as {value}"
        raise Problem(f"must be {what}, but {read}, another account: quote it ('{written}')")
    if value < 0:
        raise Problem(f"must be {what}, got {value}")
    return str(int(value)).zfill(12)


@value_kind({"type": ["string", "integer"], "pattern": "^[\\d-]+$"})
def account_id(value: Any) -> str:
    """12-digit AWS account id; the original accepted dashes (4321-4321-4321)."""
    what = "a 12-digit AWS account id"
    if isinstance(value, int) and not isinstance(value, bool):
        digits = _account_digits(value, what)
    elif isinstance(value, str):
        digits = value.replace("-", "").strip()
    else:
        raise Problem(not_text(value, what))
    if not re.fullmatch(r"\d{12}", digits):
        raise Problem(f"must be {what} (dashes allowed), got {show(value)}")
    return digits


@value_kind({"type": "string", "pattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"})
def iam_role_arn(value: Any) -> str:
    """An IAM role ARN (arn:<partition>:iam::<account>:role/<path/name>)."""
    arn = text(value)
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn):
        raise Problem(f"must be an IAM role ARN like arn:aws:iam::111122223333:role/name, "
                      f"got {show(value)}")
    return arn


@value_kind({"type": ["string", "integer"]})
def ami_owner(value: Any) -> str:
    """An owner for DescribeImages: an account id (dashes dropped) or an alias like 'self'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _account_digits(value, "an account id or an alias like self")
    owner = text(value)
    return owner.replace("-", "") if re.fullmatch(r"[\d-]+", owner) else owner


_EC2_FILTER = {
    "oneOf": [
        {"type": "string", "pattern": "^[^=]+=[^=]+$", "description": "name=value"},
        {"type": "object", "required": ["name", "values"], "additionalProperties": False,
         "properties": {"name": {"type": "string"},
                        "values": {"type": ["array", "string"], "items": {"type": "string"}}}},
    ]
}


@value_kind({"type": "array", "items": _EC2_FILTER})
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


def show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."



# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One config key of a sync type: the kind of value it takes, its default, its aliases
    and what it means (the JSON Schema's description)."""

    kind: ValueKind[Any]
    default: Any = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    doc: str = ""

    def parse(self, value: Any) -> Any:
        return self.kind(value)


@value_kind({"type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-\\d+$"})
def region(value: Any) -> str:
    """A region name (whether it exists is checked against botocore's list by config)."""
    return text(value)


@value_kind({"oneOf": [{"type": "string", "minLength": 1},
                        {"type": "array", "minItems": 1,
                         "items": {"type": "string", "minLength": 1}}]})
def job_names(value: Any) -> list[str]:
    """One job name or a list of them (renamed_from)."""
    names = value if isinstance(value, list) else [value]
    parsed = [text(name) for name in names]
    if not parsed:
        raise Problem("must name at least one job (or leave the key out)")
    return parsed


@value_kind({"type": "integer", "minimum": 1, "maximum": 10_000})
def positive_int(value: Any) -> int:
    number = non_negative_int(value)
    if number < 1:
        raise Problem(f"must be 1 or more, got {number}")
    return number


@value_kind({"type": "integer", "minimum": 1, "maximum": 3650})
def days_up_to_ten_years(value: Any) -> int:
    """A whole number of days from 1 to 3650: EC2 refuses a deprecation time in the past
    or more than 10 years ahead (EnableImageDeprecation's DeprecateAt)."""
    number = _whole_number(value)
    if not 1 <= number <= 3650:
        raise Problem(f"must be a whole number of days from 1 to 3650 (10 years, EC2's "
                      f"limit for a deprecation time), got {number}")
    return number


@value_kind({"type": "integer", "minimum": 15, "maximum": 2880, "multipleOf": 15})
def quarter_hour_minutes(value: Any) -> int:
    """Minutes from 15 to 2880 (48 hours) in steps of 15: EC2's time-based copy completion
    duration (CopyImage's SnapshotCopyCompletionDurationMinutes)."""
    number = _whole_number(value)
    if not 15 <= number <= 2880 or number % 15:
        raise Problem(f"must be a number of minutes from 15 to 2880 (48 hours) in steps of "
                      f"15, got {number}")
    return number


# ---------------------------------------------------------------- restore drills

DEFAULT_DRILL_EVERY_DAYS = 7
DEFAULT_DRILL_MAX_MINUTES = 90
_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?")


def _matching(pattern: str, example: str) -> ValueKind[str]:
    def read(value: Any) -> str:
        found = text(value)
        if not re.fullmatch(pattern, found):
            raise Problem(f"must look like {example}, got {show(value)}")
        return found
    return ValueKind(read, {"type": "string", "pattern": f"^{pattern}$"})


# The DB instance class families of "DB instance class types" (Amazon RDS User Guide) and
# the sizes they come in: a class outside them does not exist, and a drill would only learn
# so from a refused restore. A family AWS adds later is refused until it is added here.
RDS_CLASS_FAMILIES = frozenset((
    "t2 t3 t4g "
    "m1 m2 m3 m4 m5 m5d m6g m6gd m6i m6id m6idn m6in m7g m7gd m7i m8g m8gd "
    "r3 r4 r5 r5b r5d r6g r6gd r6i r6id r6idn r6in r7g r7gd r7i r8g r8gd "
    "x1 x1e x2g x2idn x2iedn x2iezn z1d c6gd").split())
_RDS_CLASS = re.compile(r"db\.(?P<family>[a-z0-9]+)\.(?P<size>micro|small|medium|large|"
                        r"(?:\d+)?xlarge|metal(?:-\d+xl)?)(?:\.tpc\d\.mem\d+x)?")


@value_kind({"type": "string", "pattern": r"^db\.(serverless|[a-z0-9]+\.[a-z0-9.-]+)$"})
def db_instance_class(value: Any) -> str:
    found = text(value)
    if found == "db.serverless":
        return found
    match = _RDS_CLASS.fullmatch(found)
    if match is None:
        raise Problem(f"must be an RDS DB instance class like db.t4g.micro (db.<family>.<size>"
                      f", or db.serverless), got {show(value)}")
    if match["family"] not in RDS_CLASS_FAMILIES:
        close = difflib.get_close_matches(match["family"], sorted(RDS_CLASS_FAMILIES), n=1)
        raise Problem(f"is not an RDS DB instance class: there is no family "
                      f"{match['family']!r}" + (f" (did you mean db.{close[0]}."
                                                f"{match['size']}?)" if close else "")
                      + ": see \"DB instance class types\" in the Amazon RDS User Guide")
    return found


@value_kind({"type": "array", "minItems": 1, "items": {"type": "string",
                                                       "pattern": f"^{_SECURITY_GROUP.pattern}$"}})
def security_group_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise Problem(f"must be a list of security group ids like [sg-0123456789abcdef0]"
                      f"{_got(value) if not isinstance(value, list) else ', got an empty list'}")
    groups = [text(item) for item in value]
    wrong = [g for g in groups if not _SECURITY_GROUP.fullmatch(g)]
    if wrong:
        raise Problem(f"must be security group ids like sg-0123456789abcdef0, got {show(wrong[0])}")
    return groups


def _bounded(low: int, high: int, unit: str) -> ValueKind[int]:
    def read(value: Any) -> int:
        number = _whole_number(value)
        if not low <= number <= high:
            raise Problem(f"must be a whole number of {unit} from {low} to {high}, got {number}")
        return number
    return ValueKind(read, {"type": "integer", "minimum": low, "maximum": high})


# The keys of restore_drill: what a drill restores into and how long it may take. The
# ones of one service only are refused in a job of the other (check_restore_drill).
DRILL_OPTIONS: dict[str, Option] = {
    "every_days": Option(_bounded(1, 365, "days"), default=DEFAULT_DRILL_EVERY_DAYS,
                         doc="a drill is due when the last one is older"),
    "max_minutes": Option(_bounded(10, 1440, "minutes"), default=DEFAULT_DRILL_MAX_MINUTES,
                          doc="the drill fails, and cleans up, after this long"),
    "validation_function_arn": Option(_matching(
        r"arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
        r"(:[A-Za-z0-9$_-]{1,128})?", "arn:aws:lambda:us-west-2:111122223333:function:name"),
        doc="a Lambda invoked with the restored resource; its answer passes or fails the drill"),
    # RDS: DB instance classes are db.<family>.<size> (db.serverless for Aurora Serverless v2)
    "db_instance_class": Option(db_instance_class,
                                doc="RDS: the drill's DB instance class (default db.t4g.micro, "
                                    "db.t4g.medium for clusters)"),
    "db_subnet_group_name": Option(text, doc="RDS: DB subnet group (default: the default "
                                             "VPC's)"),
    "vpc_security_group_ids": Option(security_group_ids, doc="RDS: VPC security groups"),
    # EC2: instance types are <family>.<size> (t4g.micro, m7i-flex.large)
    "instance_type": Option(_matching(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "t4g.micro"),
                            doc="ec2_ami: instance type (default by the AMI's architecture)"),
    "subnet_id": Option(_matching(r"subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?",
                                  "subnet-0123456789abcdef0"), doc="ec2_ami: subnet"),
    "security_group_ids": Option(security_group_ids, doc="ec2_ami: security groups"),
}
DRILL_KEYS_BY_SERVICE = {
    "rds": ("db_instance_class", "db_subnet_group_name", "vpc_security_group_ids"),
    "ec2": ("instance_type", "subnet_id", "security_group_ids"),
}


@value_kind({"oneOf": [{"const": False}, {
    "type": "object", "additionalProperties": False,
    "properties": {name: {**o.kind.schema, "description": o.doc}
                   for name, o in DRILL_OPTIONS.items()}}]})
def restore_drill(value: Any) -> dict[str, Any] | bool:
    """A mapping turns restore drills on (its keys DRILL_OPTIONS, each read by its kind);
    false turns off a top-level default for one job."""
    if value is False:
        return False
    if not isinstance(value, Mapping):
        raise Problem(f"must be a mapping of drill settings (or false){_got(value)}")
    drill: dict[str, Any] = {}
    for key, item in value.items():
        option = DRILL_OPTIONS.get(key) if isinstance(key, str) else None
        if option is None:
            close = difflib.get_close_matches(str(key), list(DRILL_OPTIONS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise Problem(f"is not a restore_drill setting (one of {', '.join(DRILL_OPTIONS)})"
                          f"{hint}", key=str(key))
        try:
            drill[key] = option.parse(item)
        except Problem as exc:
            raise Problem(str(exc), key=key) from None
    return {**{k: o.default for k, o in DRILL_OPTIONS.items() if o.default is not None},
            **drill}


def check_restore_drill(service: str, raw: Any, problem: Callable[[str, str], None]) -> None:
    """A job's own restore_drill may not hold the other service's keys (a top-level
    default may: each job takes its service's)."""
    if not isinstance(raw, Mapping):
        return
    for other, keys in DRILL_KEYS_BY_SERVICE.items():
        for key in keys:
            if other != service and key in raw:
                kind = "ec2_ami jobs" if other == "ec2" else "RDS jobs"
                problem(f"restore_drill.{key}", f"applies only to {kind}")


# Settings that may also stand at the top level, as defaults for every job.
WAIT_OPTIONS: dict[str, Option] = {
    "wait_for_completion": Option(boolean, default=False,
                                  doc="wait for the copy to finish and report its final state"),
    "poll_interval_seconds": Option(positive_int, default=60, doc="seconds between polls"),
    "max_wait_seconds": Option(non_negative_int, default=3600,
                               doc="stop waiting after this long; the result says "
                                   "timed_out. A waiting time-based AMI copy raises the "
                                   "default to its deadline (up to 172,860 s)"),
}

# A job that waits polls inside its Standard child execution, whose history holds at most
# 25,000 events (Step Functions quota; the execution fails at the limit). One poll is a
# Choice (2 events), a Wait (2) and a Lambda Task (5); a Copy-slot retry (Choice, Wait,
# Start Copy) costs the same and spends the same budget. 2,000 polls are 18,000 events;
# with every other state at its worst, about 6,700 events remain for the Tasks' retries
# of transient Lambda errors (3 events per attempt: over 2,000 retried attempts).
# test_wait_budget sums this from the ASL.
CHILD_HISTORY_EVENTS = 25_000
MAX_POLLS = 2_000


def polls_needed(max_wait_seconds: int, interval_seconds: int) -> int:
    """How many polls a wait of max_wait_seconds at interval_seconds takes (at least 1)."""
    return max(1, -(-max_wait_seconds // interval_seconds))


def check_wait_budget(options: dict[str, Any], interval_given: bool,
                      problem: Callable[[str, str], None]) -> None:
    """A waiting job's polls must fit its child's history. A wait the poll interval's
    default cannot fit (a long time-based copy) polls less often, at the shortest interval
    that fits; an interval the user chose is kept, and a wait it cannot fit is refused."""
    wait, interval = options.get("max_wait_seconds"), options.get("poll_interval_seconds")
    if not options.get("wait_for_completion") or not wait or not interval:
        return
    if polls_needed(wait, interval) <= MAX_POLLS:
        return
    fitting = -(-wait // MAX_POLLS)
    if not interval_given:
        options["poll_interval_seconds"] = fitting
        return
    problem("poll_interval_seconds",
            f"waiting up to {wait} seconds (max_wait_seconds) every {interval} seconds is "
            f"{polls_needed(wait, interval)} polls, and a waiting job's child execution has "
            f"room for {MAX_POLLS} ({CHILD_HISTORY_EVENTS:,} history events): set "
            f"poll_interval_seconds to {fitting} or more, or lower max_wait_seconds")

# How old (by its source's creation time) a job's newest available copy may be before
# `xregion-sync status` and the StaleJobs metric call the job stale.
STATUS_OPTIONS: dict[str, Option] = {
    "max_copy_age_hours": Option(positive_int, default=48,
                                 doc="hours the newest available copy's source may be old "
                                     "before the job counts as stale"),
}

# Every setting that may stand at the top level as a default for every job.
DRILL_OPTION: dict[str, Option] = {
    "restore_drill": Option(restore_drill, doc="restore drills of the job's newest copy "
                                               "(xregion-sync drill); false: none"),
}
TOP_LEVEL_OPTIONS: dict[str, Option] = {**WAIT_OPTIONS, **STATUS_OPTIONS, **DRILL_OPTION}

COMMON_OPTIONS: dict[str, Option] = {
    "sync_type": Option(text, required=True, doc="what the job copies: the name of a sync "
                                                 "type (the schema lists them)"),
    "source_region": Option(region, required=True, doc="region the source is in"),
    "destination_region": Option(region, required=True, doc="region the copy goes to"),
    "renamed_from": Option(job_names, doc="earlier names of this job: their copies are this "
                                          "job's (kept and pruned by its retention); a name "
                                          "that is still a job in the config is refused"),
    **WAIT_OPTIONS,
    **STATUS_OPTIONS,
    **DRILL_OPTION,
}


# ---------------------------------------------------------------- aws_client_config

CLIENT_OPTIONS: dict[str, Option] = {
    "aws_access_key_id": Option(text, aliases=("aws_access_key",),
                                doc="static key id; in-process only (the state machine "
                                    "refuses static keys)"),
    "aws_secret_access_key": Option(text, aliases=("aws_secret_key",),
                                    doc="static secret key; in-process only"),
    "aws_session_token": Option(text, doc="session token of temporary static keys; "
                                          "in-process only"),
    "profile": Option(text, doc="a named profile of your AWS config"),
    "region": Option(region, doc="region for STS and Secrets Manager calls"),
    "endpoint_url": Option(text, doc="a custom endpoint"),
    "role_arn": Option(iam_role_arn, doc="assume this role for the job (refreshed "
                                         "automatically); list it in the stack's JobRoleArns"),
    "external_id": Option(text, doc="the external id the role's trust policy demands"),
    "role_session_name": Option(text, doc="the session name of the assumed role"),
    "credentials_secret_arn": Option(text, doc="a Secrets Manager secret holding "
                                               "aws_access_key_id and aws_secret_access_key, "
                                               "read by the task itself; list it in the "
                                               "stack's CredentialsSecretArns"),
    "aws_account_id": Option(account_id, doc="12 digits, dashes allowed; accepted for "
                                             "compatibility, not needed"),
    "max_attempts": Option(positive_int,
                           doc="SDK attempts per call (retries + 1, standard retry mode; "
                               "default 5)"),
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

    def to_dict(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """A compact JSON-able form: options at their `defaults` (the sync type's, see
        syncs.option_defaults) are left out, because a state machine passes this for
        every job and payloads are limited."""
        data: dict[str, Any] = {
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
    def from_dict(cls, data: Mapping[str, Any], defaults: Mapping[str, Any]) -> JobSpec:
        """The job to_dict(defaults) described, its left-out options at `defaults`."""
        return cls(
            name=data["name"],
            sync_type=data["sync_type"],
            source_region=data["source_region"],
            destination_region=data["destination_region"],
            options={**defaults, **(data.get("options") or {})},
            client=ClientConfig(**(data.get("client") or {})),
        )


