"""The acceptance suite: xregion-sync's core scenarios against a real AWS account, opt-in
(`make test-aws`, docs/acceptance-on-aws.md). Beside tests/, never collected by `make test`;
tests/test_acceptance_harness.py proves the same harness against emulated AWS behind an
endpoint URL."""
