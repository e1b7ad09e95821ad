"""AWS's documented rules for tag keys and values, per service, in one place.

The config check uses them (a job name becomes a tag value on every copy, so a name a
service refuses would fail every run) and so does emulated AWS (its fidelity.py), which
refuses a tag the real service refuses, so a violation fails a test.

RDS (Tagging Amazon RDS resources): key 1-128 and value 0-256 Unicode characters; neither
"can be prefixed with aws: or rds:"; only Unicode letters, digits, white space and
_ . : / = + - @ (the Java regex ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$).
EC2 (Tag your Amazon EC2 resources): key 1-128 and value 0-256 characters; "Amazon EC2
allows for any character in its tags"; keys may not begin with aws:.
"""

from __future__ import annotations

import unicodedata

MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
RDS_PUNCTUATION = frozenset("_.:/=+-@")
RESERVED_PREFIXES = {"ec2": ("aws:",), "rds": ("aws:", "rds:")}


def key_problem(service: str, key: str) -> str | None:
    """Why `service` refuses `key` as a tag key, or None."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return f"a tag key must be 1 to {MAX_KEY_LENGTH} characters long, got {len(key)}"
    return _prefix_problem(service, key) or _character_problem(service, key)


def value_problem(service: str, value: str) -> str | None:
    """Why `service` refuses `value` as a tag value, or None. EC2 allows any value
    (aws: is reserved for keys only)."""
    if len(value) > MAX_VALUE_LENGTH:
        return f"a tag value must be at most {MAX_VALUE_LENGTH} characters long, got {len(value)}"
    if service == "ec2":
        return None
    return _prefix_problem(service, value) or _character_problem(service, value)


def _prefix_problem(service: str, text: str) -> str | None:
    for prefix in RESERVED_PREFIXES.get(service, ("aws:",)):
        if text.lower().startswith(prefix):
            return f"{service.upper()} refuses tags that begin with '{prefix}'"
    return None


def _character_problem(service: str, text: str) -> str | None:
    if service != "rds":
        return None
    bad = sorted({c for c in text if not _rds_allowed(c)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        return (f"RDS allows in tags only letters, digits, spaces and _ . : / = + - @, "
                f"not {shown}")
    return None


def _rds_allowed(character: str) -> bool:
    category = unicodedata.category(character)
    return category[0] in "LNZ" or character in RDS_PUNCTUATION
