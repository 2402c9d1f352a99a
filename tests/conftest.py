"""Shared pytest fixtures: each real server lives in its own module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.openbao",
    "tests.fixtures.sandbox",
    "tests.fixtures.prefect",
    "tests.fixtures.postgres",
    "tests.fixtures.stack",
    "tests.fixtures.vault_tls",
    "tests.fixtures.vault_agent",
    "tests.fixtures.prefect_server",
]
