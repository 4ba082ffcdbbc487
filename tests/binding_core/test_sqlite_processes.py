"""Several processes opening one new SQLite file at the same moment (replicas starting together): every one
opens it, they agree on the database's id, and each one's write goes in (none fails "database is locked")."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path

from binding_core.store import Store

PROCESSES = 6
# One round of processes shows the open race about one time in four (a WAL switch failing "database is locked" at
# once, two openers both creating the migrations table); threads are cheap enough to show it nearly always.
ROUNDS = 2
THREAD_ROUNDS = 40

# Each child imports first, then waits for one line on stdin, so all open the file at nearly the same moment.
CHILD = """
import json, random, sys
from binding_core.store import Store
index, path = int(sys.argv[1]), sys.argv[2]
sys.stdin.readline()
try:
    store = Store.open(path)
    tag = store.database_id(random.Random(index), 1000.0 + index)
    op = store.begin(f"1700000000{index}", "XB", "bind", b="13800000000", now=1000.0)
    print(json.dumps([index, tag, op.id]))
except Exception as exc:
    print(json.dumps([index, "error", repr(exc)]))
"""


def test_replicas_starting_together_on_a_new_file_all_open_it_and_write(tmp_path: Path):
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"core-{round_}.db")
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(i), path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for i in range(PROCESSES)]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
        assert [r for r in results if r[1] == "error"] == [], f"round {round_}"
        assert len({tag for _, tag, _ in results}) == 1  # one database, one id
        assert len({op for _, _, op in results}) == PROCESSES  # every process's operation was written


def test_connections_opening_one_new_file_together_in_threads_never_fail(tmp_path: Path):
    errors: list[str] = []
    for round_ in range(THREAD_ROUNDS):
        path = str(tmp_path / f"threads-{round_}.db")
        start = threading.Barrier(PROCESSES)

        def open_and_write(index: int) -> None:
            start.wait()
            try:
                store = Store.open(path)
                store.database_id(random.Random(index), 1000.0 + index)
                store.begin(f"1700000000{index}", "XB", "bind", b="13800000000", now=1000.0)
                store.close()
            except Exception as exc:  # collected: an exception in a thread would not fail the test
                errors.append(f"round {round_}: {exc!r}")

        threads = [threading.Thread(target=open_and_write, args=(i,)) for i in range(PROCESSES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
