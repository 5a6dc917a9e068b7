"""The benchmarks' engine experiments run on the engines tests' tiny exported model."""

from tests.engines.conftest import tiny  # noqa: F401  (a fixture, shared)
