"""`pstnsim trace import | diff | check` run as a user runs them: the installed command in a subprocess, its
output and its exit code (0 done / equal / agree, 1 different, 2 bad input with one line and no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.traces import read_trace, write_trace

DATA = Path(__file__).parent / "data"
PSTNSIM = Path(sys.executable).with_name("pstnsim")


def pstnsim(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PSTNSIM), *map(str, args)], capture_output=True, text=True, timeout=60)


def refused(result: subprocess.CompletedProcess[str], command: str, *words: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"pstnsim trace {command}: "), result.stderr
    for word in words:
        assert word in line, line


def test_import_writes_a_trace_and_says_what_it_skipped(tmp_path):
    out = tmp_path / "incident.jsonl"
    result = pstnsim("trace", "import", DATA / "chrome.har", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "imported 6 exchanges (native)" in result.stdout and "1 of them failed" in result.stdout
    assert "skipped 3 entries that are not provider requests" in result.stdout
    trace = read_trace(out)
    assert trace.header.pseudonymised and trace.header.recorder == "pstnsim trace import"
    assert "13800000002" not in out.read_text()


def test_import_of_a_vendor_har_then_check_agrees_and_exits_0(tmp_path):
    out = tmp_path / "vendors.jsonl"
    assert pstnsim("trace", "import", DATA / "mitmproxy.har", "--dialect", "auto", "--out", out).returncode == 0
    result = pstnsim("trace", "check", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 exchanges: 7 agree, 0 differ, 1 not comparable" in result.stdout
    assert "(seed 0)" in result.stdout


def test_check_of_a_recording_the_simulator_disagrees_with_exits_1_and_lists_it(tmp_path):
    trace = read_trace(DATA / "native.jsonl")
    listing = next(e for e in trace.exchanges if e.action == "list_bindings")
    listing.response["body"]["next_page"] = None  # a field the real provider sends and pstnsim does not
    write_trace(tmp_path / "real.jsonl", trace)
    result = pstnsim("trace", "check", tmp_path / "real.jsonl", "--seed", "7", "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert (data["seed"], data["differ"], data["differ_by_action"]) == (7, 1, {"native list_bindings": 1})
    [differ] = [r for r in data["results"] if r["verdict"] == "differ"]
    assert differ["changes"] == [{"field": "body.next_page", "a": None, "b": None, "presence": "a"}]


def test_diff_exits_0_when_equal_by_meaning_and_1_with_the_differences(tmp_path):
    assert pstnsim("trace", "diff", DATA / "native.jsonl", DATA / "native.jsonl").returncode == 0
    trace = read_trace(DATA / "native.jsonl")
    trace.exchanges.pop()  # the last call never happened in B
    write_trace(tmp_path / "b.jsonl", trace)
    result = pstnsim("trace", "diff", DATA / "native.jsonl", tmp_path / "b.jsonl")
    assert result.returncode == 1 and "1 differences: 1 missing" in result.stdout
    assert "missing    A#" in result.stdout
    data = json.loads(pstnsim("trace", "diff", DATA / "native.jsonl", tmp_path / "b.jsonl", "--json").stdout)
    assert data["equal"] is False and data["counts"]["missing"] == 1


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    good = (DATA / "native.jsonl").read_text()
    files = {
        "truncated": good[: len(good) - 40],
        "version": good.replace('"version": 1', '"version": 7', 1),
        "corrupt": good.replace('"type": "exchange"', '"type": "exchange", "seq": "one"', 1),
        "not_har": "<html>not a capture</html>",
        "bad_entry": json.dumps({"log": {"entries": [{"startedDateTime": "2026-01-01T00:00:00Z",
                                                       "request": {"method": "GET", "url": 7}}]}}),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text(text)
    paths["missing"] = tmp_path / "nowhere.jsonl"
    return paths


@pytest.mark.parametrize("command, name, words", [
    ("check", "truncated", ["truncated.txt:", "truncated"]),
    ("diff", "version", ["version.txt:1", "unknown trace format version 7"]),
    ("check", "corrupt", ["corrupt.txt:2", "seq"]),
    ("diff", "missing", ["nowhere.jsonl", "cannot open"]),
    ("import", "not_har", ["not_har.txt", "not HAR"]),
    ("import", "bad_entry", ["bad_entry.txt: log.entries[0]", "request.url"]),
])
def test_bad_input_is_one_line_naming_the_file_exit_2_no_traceback(tmp_path, bad_files, command, name, words):
    path = bad_files[name]
    if command == "import":
        result = pstnsim("trace", "import", path, "--out", tmp_path / "out.jsonl")
        assert not (tmp_path / "out.jsonl").exists()
    elif command == "diff":
        result = pstnsim("trace", "diff", DATA / "native.jsonl", path)
    else:
        result = pstnsim("trace", "check", path)
    refused(result, command, *words)


def test_a_har_without_provider_traffic_writes_nothing_and_exits_2(tmp_path):
    har = tmp_path / "page.har"
    har.write_text(json.dumps({"log": {"entries": [{
        "startedDateTime": "2026-01-01T00:00:00Z", "time": 3,
        "request": {"method": "GET", "url": "https://shop.example/index.html", "headers": []},
        "response": {"status": 200, "headers": [], "content": {"text": "<html></html>"}}}]}}))
    result = pstnsim("trace", "import", har, "--dialect", "aliyun", "--out", tmp_path / "out.jsonl")
    refused(result, "import", "no aliyun request among its 1 entries")
    assert not (tmp_path / "out.jsonl").exists()
