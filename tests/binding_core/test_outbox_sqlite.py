"""The outbox on SQLite alone (tests/backends/test_outbox.py runs the shared contract on both backends):
relays in separate processes on one file, message numbers never handed out twice, the in-memory store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from binding_core.storage import open_store

B = "13800000001"
DEADLINE = 30.0

# A relay process: opens the store, says it is ready, waits for the go file (so all start together), then takes
# one row at a time until none is left.
RELAY = """
import json, sys, time
from pathlib import Path
from binding_core.storage import open_store
db, go, name = sys.argv[1:]
store = open_store(db, outbox=True)
Path(go + "." + name).touch()
deadline = time.monotonic() + 30
while not Path(go).exists():
    assert time.monotonic() < deadline, "never told to go"
    time.sleep(0.001)
taken = []
while rows := store.claim_outbox(name, now=2.0, lease=60.0, limit=1):
    taken.extend(r["seq"] for r in rows)
store.close()
print(json.dumps(taken))
"""


def test_relays_in_separate_processes_on_one_file_never_take_the_same_row(tmp_path: Path):
    db = tmp_path / "core.db"
    store = open_store(db, outbox=True)
    for i in range(400):
        store.begin(f"171{i:08d}", "XB", "bind", b=B, now=1.0)
    go = tmp_path / "go"
    relays = [subprocess.Popen([sys.executable, "-c", RELAY, str(db), str(go), f"relay-{i}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    deadline = time.monotonic() + DEADLINE
    while not all((tmp_path / f"go.relay-{i}").exists() for i in range(len(relays))):
        assert time.monotonic() < deadline, "the relays did not start"
        time.sleep(0.01)
    go.touch()
    taken = []
    for relay in relays:
        out, err = relay.communicate(timeout=DEADLINE)
        assert relay.returncode == 0, err
        taken.append(json.loads(out))
    every = [seq for t in taken for seq in t]
    assert len(every) == len(set(every)) == 400  # each row taken by exactly one process
    assert store.count_outbox() == 400
    store.close()


def test_a_message_number_is_never_handed_out_twice_even_after_the_newest_row_was_deleted(tmp_path: Path):
    """The relay publishes with the row's number as message id: a reused one would name two messages."""
    store = open_store(tmp_path / "core.db", outbox=True)
    store.begin("17100000001", "XB", "bind", b=B, now=1.0)
    [first] = store.claim_outbox("relay", now=1.0, lease=5.0, limit=10)
    store.delete_outbox([first["seq"]])
    store.begin("17100000001", "AXB", "bind", a="13900000001", b=B, now=2.0)
    [second] = store.claim_outbox("relay", now=2.0, lease=5.0, limit=10)
    assert second["seq"] > first["seq"]
    store.close()
    reopened = open_store(tmp_path / "core.db", outbox=True)  # nor after a restart
    reopened.delete_outbox([second["seq"]])
    reopened.begin("17100000002", "XB", "bind", b=B, now=3.0)
    [third] = reopened.claim_outbox("relay", now=3.0, lease=5.0, limit=10)
    assert third["seq"] > second["seq"]
    reopened.close()


def test_the_in_memory_store_keeps_an_outbox_too():
    store = open_store(None, outbox=True)
    assert store.outbox_enabled
    op = store.begin("17100000001", "XB", "bind", b=B, now=1.0, owner="w1", lease=10.0)
    assert [(r["op_id"], r["deliver_at"]) for r in store.claim_outbox("relay", now=1.0, lease=5.0, limit=10)] == [
        (op.id, 11.0)]
    assert not open_store(None).outbox_enabled  # off unless asked for
    store.close()


def test_switching_the_outbox_on_for_an_open_store_takes_effect_at_the_next_write(tmp_path: Path):
    store = open_store(tmp_path / "core.db")
    store.begin("17100000001", "XB", "bind", b=B, now=1.0)
    store.outbox_enabled = True
    op = store.begin("17100000001", "AXB", "bind", a="13900000001", b=B, now=2.0)
    assert [r["op_id"] for r in store.claim_outbox("relay", now=2.0, lease=5.0, limit=10)] == [op.id]
    store.close()
