"""Bad input, generated: every malformed config gets a clear ConfigError naming the job and
the field, never another exception and never an AWS call; the CLI never prints a traceback."""

from __future__ import annotations

import string
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import xregion_sync
from xregion_sync import aws, cli, execution
from xregion_sync.config import CONFIG_LEVEL, MAX_CONFIG_BYTES, load_config
from xregion_sync.errors import ConfigError

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
