"""The validation gate: Great Expectations suites built from the ``sql/*.yml`` contracts."""
