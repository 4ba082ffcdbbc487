"""The pstnsim_postgres_url fixture (binding_core.testing.postgres_database): without a reachable server a test
skips with the reason, but under CI=true it fails, saying how to start PostgreSQL; with one, each test gets a
database of its own, gone afterwards even if the test left a connection open."""

from __future__ import annotations

import os

import pytest

from binding_core.testing import POSTGRES_ADMIN_DEFAULT, POSTGRES_ADMIN_ENV, postgres_database

from .conftest import query

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


@pytest.mark.parametrize("ci, outcome", [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_an_unreachable_server_skips_locally_and_fails_under_ci(monkeypatch, ci, outcome):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome) as stopped:
        with postgres_database(UNREACHABLE):
            raise AssertionError("no database can be made there")
    assert "PostgreSQL is not usable" in str(stopped.value)
    assert "pg_ctlcluster --skip-systemctl-redirect" in str(stopped.value)  # how to start it


def test_each_test_gets_a_database_of_its_own_dropped_afterwards_even_with_a_connection_open(pstnsim_postgres_url):
    import psycopg

    admin = os.environ.get(POSTGRES_ADMIN_ENV, POSTGRES_ADMIN_DEFAULT)
    with postgres_database(admin) as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("pstnsim_t_") and url != pstnsim_postgres_url
        left_open = psycopg.connect(url)
        assert query(url, "SELECT current_database() AS d") == [{"d": name}]
    assert _cut_off(left_open)  # dropped with it open: the server ended that session
    left_open.close()
    assert query(admin, "SELECT datname FROM pg_database WHERE datname = %s", [name]) == []


def _cut_off(conn) -> bool:
    try:
        conn.execute("SELECT 1")
    except Exception:
        return True
    return False
