"""Shared by the cluster tests: the PostgreSQL server a run may create its database on (skip, or fail under
CI=true, with how to start it), and `pstnsim chaos cluster` run in this process."""

from __future__ import annotations

import os

from binding_core.testing import POSTGRES_ADMIN_DEFAULT, POSTGRES_ADMIN_ENV, _postgres_missing


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ADMIN_ENV, POSTGRES_ADMIN_DEFAULT)
    try:
        import psycopg
    except ImportError:
        _postgres_missing("the psycopg driver is not installed (pip install 'pstnsim[postgres]')")
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        _postgres_missing(f"cannot connect to {url}: {str(exc).strip()}")
    return url


def database_exists(admin_url: str, name: str) -> bool:
    from scenarios.cluster.backends import database_exists as exists

    return exists(admin_url, name)
