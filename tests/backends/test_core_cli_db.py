"""`pstnsim core --db`: the URL forms it takes, and the clear exit 2 when a postgresql URL cannot be served.
SQLite stays the default that needs nothing: its path never imports the PostgreSQL driver."""

from __future__ import annotations

import subprocess
import sys

import pytest

from binding_core.cli import database_target


def run_core(*args: str, prelude: str = "", cwd=None) -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nimport sys\nfrom binding_core.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "--provider-url", "http://127.0.0.1:9", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_a_postgresql_url_without_the_driver_exits_2_naming_the_extra_to_install():
    # sys.modules[name] = None: this interpreter behaves as one where psycopg is not installed
    result = run_core("--db", "postgresql://postgres@127.0.0.1:5432/test", prelude="sys_modules = __import__('sys').modules\n"
                      "sys_modules['psycopg'] = None")
    assert result.returncode == 2
    assert "pstnsim[postgres]" in result.stderr and "listening" not in result.stdout


def test_an_unreachable_server_exits_2_without_printing_the_password():
    result = run_core("--db", "postgresql://postgres:s3cret@127.0.0.1:1/nowhere")
    assert result.returncode == 2, result.stderr
    assert "cannot open the database postgresql://postgres:***@127.0.0.1:1/nowhere" in result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("value, message", [
    ("mysql://root@localhost/core", "unknown database URL scheme 'mysql'"),
    ("sqlite://", "a SQLite URL names a file"),
])
def test_a_database_url_it_cannot_serve_exits_2_naming_the_problem(tmp_path, value, message):
    result = run_core("--db", value, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_sqlite_urls_name_files_as_sqlalchemy_does(tmp_path):
    assert database_target("sqlite:///core.db") == "core.db"
    assert database_target(f"sqlite:///{tmp_path}/core.db") == f"{tmp_path}/core.db"  # four slashes: absolute
    assert database_target(str(tmp_path / "core.db")) == str(tmp_path / "core.db")


def test_the_sqlite_default_never_imports_the_postgresql_driver(tmp_path):
    code = ("import asyncio, sys\n"
            "from binding_core.app import Core\n"
            "async def main():\n"
            f"    core = await Core(provider_url='http://127.0.0.1:9', db_path={str(tmp_path / 'core.db')!r}).start()\n"
            "    await core.stop()\n"
            "asyncio.run(main())\n"
            "import scenarios.cli\n"
            "assert 'psycopg' not in sys.modules, 'psycopg was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "core.db").exists()
