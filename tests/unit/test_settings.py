"""Configuration errors are caught when the settings are read, with plain messages.
(The command line naming one: tests/integration/test_settings_cli.py.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infrastructure.settings import Settings


@pytest.mark.parametrize(
    "overrides",
    [
        {"follow_up_days": {"temu": 0}},
        {"follow_up_days_default": -1},
        {"appeal_window_days": {"tiktok": 100000}},
        {"database_url": "mysql://localhost/x"},
        {"max_upload_bytes": 0},
    ],
)
def test_bad_settings_are_refused(overrides) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)


def test_database_url_becomes_the_library_settings() -> None:
    env = Settings(database_url="postgresql://u:p%40ss@db.example:6543/reclaim").eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.example", "6543")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("u", "p@ss")
    assert env["POSTGRES_DBNAME"] == "reclaim"
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == ""
