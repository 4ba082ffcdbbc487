"""Ordinary mistakes on `pstnsim provider` / `pstnsim core`: a message naming the flag and the problem as the
last line, exit 2, no traceback, nothing created."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


def refused(result, *words: str) -> str:
    """Exit 2, no traceback, and the last line of stderr says each of `words`."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    line = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, result.stderr)
    return line


@pytest.mark.parametrize("port", ["99999", "http"])
def test_provider_refuses_a_port_that_is_not_one(pstnsim, port):
    refused(pstnsim("provider", "--port", port), "--port", port)


def test_provider_on_a_taken_port_says_it_cannot_listen(pstnsim):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused(pstnsim("provider", "--port", port), "cannot listen", port)


def test_core_refuses_a_port_that_is_not_one(pstnsim, tmp_path):
    refused(pstnsim("core", "--port", "70000", "--db", str(tmp_path / "core.db")), "--port", "70000")
    assert not (tmp_path / "core.db").exists()


def test_core_refuses_a_database_in_a_missing_folder(pstnsim, tmp_path):
    db = tmp_path / "no" / "such" / "core.db"
    refused(pstnsim("core", "--port", "0", "--db", str(db)), "--db", str(db.parent), "does not exist")
    assert not (tmp_path / "no").exists()


def test_core_refuses_a_folder_as_its_database(pstnsim, tmp_path):
    refused(pstnsim("core", "--port", "0", "--db", str(tmp_path)), "--db", "is a folder")


def test_core_refuses_a_file_that_is_not_sqlite_and_leaves_it_alone(pstnsim, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a database\n")
    refused(pstnsim("core", "--port", "0", "--db", str(notes)), "--db", str(notes), "not a SQLite database")
    assert notes.read_text() == "my notes, not a database\n"


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:8090"])
def test_core_refuses_a_provider_url_that_is_not_a_url(pstnsim, tmp_path, url):
    refused(pstnsim("core", "--port", "0", "--db", str(tmp_path / "core.db"), "--provider-url", url),
            "--provider-url", url)
    assert not (tmp_path / "core.db").exists()


def test_core_refuses_a_config_whose_provider_url_is_not_a_url(pstnsim, tmp_path):
    config = tmp_path / "core.toml"
    config.write_text('[provider]\nurl = "localhost"\n')
    refused(pstnsim("core", "--port", "0", "--db", str(tmp_path / "core.db"), "--config", str(config)),
            "core.toml", "[provider] url", "localhost")


def test_core_still_starts_on_an_empty_file_and_an_existing_database(pstnsim_server, tmp_path: Path):
    """The checks refuse only what SQLite could not use: an empty file is a new database, a second start
    reopens the first one's file."""
    db = tmp_path / "core.db"
    db.touch()
    url, _ = pstnsim_server("core", "--port", "0", "--db", str(db), "--provider-url", "http://127.0.0.1:9")
    assert url.startswith("http://127.0.0.1:")
    assert db.read_bytes().startswith(b"SQLite format 3\x00")
