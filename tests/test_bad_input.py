"""Bad input, generated: every malformed config gets a clear ConfigError naming the job and
the field, never another exception and never an AWS call; the CLI never prints a traceback."""

from __future__ import annotations

import string
from contextlib import contextmanager
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import xregion_sync
from xregion_sync import aws, cli, execution
from xregion_sync.config import MAX_CONFIG_BYTES, load_config
from xregion_sync.errors import CONFIG_LEVEL, ConfigError

VALID_JOBS = {
    "ec2_ami": {"sync_type": "ec2_ami", "source_region": "us-east-1",
                "destination_region": "us-west-2", "sync_identifier": "web",
                "filters": ["tag:Environment=Production"], "max_images_to_retain": 2},
    "rds_automated_snapshot": {"sync_type": "rds_automated_snapshot",
                               "source_region": "us-east-1",
                               "destination_region": "us-west-2", "db_instance": "db"},
}
FIELDS = sorted({key for job in VALID_JOBS.values() for key in job})

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True), st.text(max_size=30),
    st.text(alphabet="🌍é\u202e\x00\ud7ff", max_size=5), st.just("x" * 100_000),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)
# Bad values, each wrong for the field they are put in.
bad_values = {
    "sync_type": st.one_of(st.sampled_from(["ec2-ami", "rds", "", "EC2_AMI"]), values),
    "source_region": st.one_of(st.sampled_from(["us-east-9", "mars-1", "", "US-EAST-1"]), values),
    "destination_region": st.one_of(st.sampled_from(["us-east-1", "cn-north-1", "eu"]), values),
    "max_images_to_retain": st.one_of(st.integers(max_value=-1), st.integers(min_value=10**6),
                                      st.booleans(), st.text(), st.floats()),
    "filters": st.one_of(st.text(), st.lists(st.sampled_from(["a", "a=b=c", "=b", "a="]),
                                             min_size=1), st.dictionaries(st.text(), values)),
    "db_instance": st.one_of(st.none(), st.lists(st.text()), st.just(""), st.just("x" * 5000)),
    "sync_identifier": st.one_of(st.none(), st.lists(st.text()), st.just({"a": 1})),
}


@contextmanager
def no_aws_calls():
    """Any attempt to build an AWS client fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"an AWS client was built for {args[1:]}")

    with mock.patch.object(aws, "client_for", refuse):
        yield


def assert_names_job_and_field(error: ConfigError, job: str, field: str | None = None) -> None:
    assert error.job == job
    assert f"'{job}'" in error.message
    if field:
        assert error.field and error.field.split(".")[0] == field
        assert f"'{error.field}'" in error.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sync_type=st.sampled_from(sorted(VALID_JOBS)), field=st.sampled_from(FIELDS),
       data=st.data())
def test_one_bad_field_fails_that_job_naming_job_and_field(sync_type, field, data):
    # GIVEN a valid job with one field made bad (or removed, for required ones)
    job = dict(VALID_JOBS[sync_type])
    if field not in bad_values or data.draw(st.booleans(), "remove instead"):
        # optional fields may be absent: only a required one can be removed
        assume(field in job and field not in ("sync_identifier", "filters",
                                              "max_images_to_retain"))
        del job[field]
    else:
        job[field] = data.draw(bad_values[field], "bad value")
    config = {"sync_bad": job, "sync_good": VALID_JOBS[sync_type]}
    # WHEN it is validated and run, with AWS calls forbidden for the bad job
    entries = {e.name: e for e in load_config(config).entries}
    # THEN the bad job has errors naming it and a field; the good one has none
    assert entries["sync_bad"].errors, f"accepted {field}={job.get(field)!r}"
    assert entries["sync_good"].errors == ()
    for error in entries["sync_bad"].errors:
        assert_names_job_and_field(error, "sync_bad")
        assert error.field
    with no_aws_calls():
        results = xregion_sync.run({"sync_bad": job})
    assert results[0].failed and results[0].errors[0].type == "ConfigError"


@settings(max_examples=200, deadline=None)
@given(document=values)
def test_any_document_is_a_config_or_a_config_error(document):
    with no_aws_calls():
        try:
            config = load_config(document if isinstance(document, dict) else {"x": 1}
                                 if document is None else document)
        except ConfigError as error:
            assert error.job == CONFIG_LEVEL and error.message
            return
    for entry in config.entries:
        for error in entry.errors:
            assert_names_job_and_field(error, entry.name)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.text(alphabet=string.printable + "{}[]&*!|>-:#",
                                                     max_size=300)))
def test_any_text_is_a_config_or_a_config_error(text):
    try:
        load_config(text if "\n" in text or not text else text + "\n")
    except ConfigError as error:
        assert error.job == CONFIG_LEVEL and error.message


@pytest.mark.parametrize("text, expected", [
    ("", "empty"),
    ("   \n# only a comment\n", "empty"),
    ("just a string\n", "mapping of jobs"),
    ("[1, 2]\n", "mapping of jobs"),
    ("sync_a: {sync_type: ec2_ami}\nsync_a: {sync_type: ec2_ami}\n", "appears twice"),
    ("sync_a: !!python/object:os.system {}\n", "not valid YAML"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     "sync_x: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "alias"),
    ("sync_a: " + "[" * 5000 + "]" * 5000 + "\n", ""),
    ("x" * (MAX_CONFIG_BYTES + 1) + ": 1\n", "larger than"),
])
def test_hostile_files_are_one_clear_error(text, expected):
    with pytest.raises(ConfigError) as caught, no_aws_calls():
        load_config(text)
    assert caught.value.job == CONFIG_LEVEL
    assert expected in caught.value.message


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_cli_validate_never_prints_a_traceback(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with no_aws_calls(), mock.patch("sys.stdout") as out, mock.patch("sys.stderr") as err:
        code = cli.main(["validate", str(path)])
    printed = "".join(str(c.args[0]) for c in out.write.call_args_list + err.write.call_args_list)
    assert code in (0, 1)
    assert "Traceback" not in printed


@settings(max_examples=100, deadline=None)
@given(event=st.one_of(
    st.dictionaries(st.sampled_from(["config", "config_uri", "conf", "input"]), values,
                    min_size=1, max_size=2),
    st.builds(lambda uri: {"config_uri": uri},
              st.one_of(st.text(max_size=40), st.sampled_from(["ssm:", "s3://", "s3:/x", "http://x"]))),
))
def test_malformed_execution_inputs_are_config_errors(event):
    # Load Config's answer to any input: a plan, or a ConfigError; never an AWS call for
    # inputs that name no readable place.
    uri = event.get("config_uri")
    # a well-formed URI means an AWS read (the state machine tests cover those)
    assume(not (len(event) == 1 and isinstance(uri, str) and uri.startswith(("ssm:", "s3://"))))
    with no_aws_calls():
        try:
            plan = execution.plan_execution(event, "exec")
        except ConfigError as error:
            assert error.message
            return
    assert "jobs" in plan


# ---------------------------------------------------------------- YAML that changes meaning


def yaml_config(sync_type: str, key: str, written: str, name: str = "sync_job") -> str:
    """A YAML config of one valid job with `key: written` (unquoted) set in it."""
    job = {k: v for k, v in VALID_JOBS[sync_type].items() if k != key}
    lines = [f"{name}:"] + [f"  {k}: {v!r}" if isinstance(v, str) else f"  {k}: {list(v)!r}"
                            if isinstance(v, list) else f"  {k}: {v}" for k, v in job.items()]
    return "\n".join([*lines, f"  {key}: {written}", ""])


@st.composite
def spelled_numbers(draw) -> tuple[str, str, int]:
    """A whole number and one of the ways YAML 1.1 reads text as that number."""
    n = draw(st.integers(min_value=0, max_value=10_000))
    spellings = {"decimal": str(n), "octal": "0" + format(n, "o"), "hex": f"0x{n:x}",
                 "binary": "0b" + format(n, "b"), "float": f"{n}.0"}
    if n >= 10:
        spellings["underscores"] = f"{str(n)[0]}_{str(n)[1:]}"
    if n >= 60:
        spellings["base 60"] = f"{n // 60}:{n % 60:02d}"
    form = draw(st.sampled_from(sorted(spellings)))
    return form, spellings[form], n


NUMBER_FIELDS = [("ec2_ami", "max_images_to_retain"), ("ec2_ami", "max_wait_seconds"),
                 ("rds_automated_snapshot", "max_snapshots_to_retain"),
                 ("rds_automated_snapshot", "poll_interval_seconds")]


@settings(max_examples=200, deadline=None)
@given(where=st.sampled_from(NUMBER_FIELDS), number=spelled_numbers())
def test_a_number_option_takes_only_plain_decimal_numbers(where, number):
    # GIVEN a number written in one of the forms YAML 1.1 reads as that number
    (sync_type, key), (form, written, n) = where, number
    assume(not (key == "poll_interval_seconds" and n == 0))
    text = yaml_config(sync_type, key, written)
    assert yaml.safe_load(text)["sync_job"][key] == n  # what YAML reads, as the user may not

    # WHEN it is validated
    (entry,) = load_config(text).entries

    # THEN plain decimal is taken as written; any other form is refused naming the field
    if form == "decimal":
        assert entry.errors == () and entry.spec.options[key] == n
    else:
        (error,) = entry.errors
        assert_names_job_and_field(error, "sync_job", key)
        assert "plain decimal" in error.message
        assert written in error.message


YAML_SCALARS = st.one_of(
    spelled_numbers().map(lambda number: number[1]),
    st.sampled_from(["yes", "No", "on", "OFF", "true", "~", "null", "2026-11-28",
                     "2026-11-28 10:00:00", "2026-11-28T10:00:00Z", ".inf", ".NaN", "-.5",
                     "1e3", "1.0e+3", "0o17", "web-app", "+12", "-0", "0755", "1:30:00"]),
    st.from_regex(r"[0-9+.-][0-9:._xobe+-]{0,10}", fullmatch=True),
)
TEXT_FIELDS = [("ec2_ami", "sync_identifier"), ("rds_automated_snapshot", "db_instance")]


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(TEXT_FIELDS), written=YAML_SCALARS)
def test_a_text_option_takes_only_what_yaml_reads_as_text(where, written):
    # GIVEN an unquoted scalar in a text option
    sync_type, key = where
    text = yaml_config(sync_type, key, written)
    try:
        read = yaml.safe_load(text)["sync_job"][key]
    except (yaml.YAMLError, TypeError, ValueError):  # PyYAML cannot read `0b_`: see below
        assume(False)
    assume(not isinstance(read, dict | list))

    # WHEN it is validated (never an AWS call)
    with no_aws_calls():
        (entry,) = load_config(text).entries
        result = xregion_sync.run(text)[0] if not isinstance(read, str) else None

    # THEN it is accepted exactly when YAML reads it as text; otherwise the error says
    # how YAML read it and to quote it
    if isinstance(read, str) and read.strip():
        assert entry.errors == () and entry.spec.options[key] == read.strip()
        return
    (error,) = entry.errors
    assert_names_job_and_field(error, "sync_job", key)
    if read is not None and not isinstance(read, str | bool):
        assert f"quote it ('{written}')" in error.message
    if result is not None:
        assert result.failed and result.errors[0].type == "ConfigError"


# ---------------------------------------------------------------- job names are tag values


@settings(max_examples=200, deadline=None)
@given(sync_type=st.sampled_from(sorted(VALID_JOBS)),
       suffix=st.one_of(st.text(max_size=20), st.text(max_size=300, alphabet="ab (#)"),
                        st.text(alphabet=string.printable, max_size=20)))
def test_a_job_is_refused_exactly_for_a_name_its_service_refuses_as_a_tag_value(
        sync_type, suffix):
    from xregion_sync.syncs import SYNC_TYPES
    from xregion_sync.tag_rules import value_problem

    name = "sync_" + suffix
    with no_aws_calls():
        (entry,) = load_config({name: VALID_JOBS[sync_type]}).entries
        (result,) = xregion_sync.run({name: VALID_JOBS[sync_type]}) if entry.errors else (None,)

    refused = value_problem(SYNC_TYPES[sync_type].SERVICE, name)
    assert bool(entry.errors) == bool(refused)
    if refused:
        (error,) = entry.errors
        assert (error.job, error.field) == (name, name)  # the field to change is the key
        assert error.message.startswith(f"job '{name}': ")
        assert refused in error.message and "xregion-sync:job" in error.message
        assert result.failed and result.errors[0].type == "ConfigError"
