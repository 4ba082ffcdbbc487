"""`pstnsim record` as a user runs it (a subprocess): bad flags and files refused by name with exit 2 and no
traceback; a recording started, used, stopped with SIGTERM, and the trace it says it wrote."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from simulator.dialects.aliyun import signing
from simulator.traces import read_trace
from simulator.traces.proxy import UpstreamURLError, upstream_base
from simulator.traces.upstream_credentials import UpstreamCredentialsError, load_upstream_credentials

ROOT = Path(__file__).resolve().parents[2]
PSTNSIM = [sys.executable, "-m", "scenarios.cli"]
UPSTREAM_KEY_ID, UPSTREAM_SECRET = "LTAIupstreamCli1", "cli-upstream-secret"


def record(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*PSTNSIM, "record", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def base_args(tmp_path: Path, dialect: str = "aliyun") -> list[str]:
    return ["--upstream", "http://127.0.0.1:9", "--dialect", dialect, "--port", "0", "--out",
            str(tmp_path / "trace.jsonl")]


def test_a_vendor_dialect_without_upstream_credentials_is_refused(tmp_path: Path) -> None:
    message = refused(record(*base_args(tmp_path)))
    assert "--upstream-credentials" in message
    assert not (tmp_path / "trace.jsonl").exists()


def test_a_missing_key_in_the_upstream_credentials_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "upstream.toml"
    path.write_text('[aliyun]\naccess_key_id = "LTAIsecretish99"\n')
    message = refused(record(*base_args(tmp_path), "--upstream-credentials", str(path)))
    assert str(path) in message and "aliyun.access_key_secret" in message
    assert "LTAIsecretish99" not in message  # a key is never echoed


@pytest.mark.parametrize("content, named", [
    (None, "cannot read"),
    ('[tencent]\nsecret_id = "x"\nsecret_key = "y"\n', "[aliyun]"),
    ('[aliyun]\naccess_key_id = "LTAIsecretish99"\naccess_key_secret = 7\n', "aliyun.access_key_secret"),
    ('[aliyun]\naccess_key_id = "LTAIsecretish99"\naccess_key_secret = ""\n', "aliyun.access_key_secret"),
    ('[aliyun]\naccess_key_id = "LTAIsecretish99"\naccess_key_secret = "s"\npool = "p"\n', "aliyun.pool"),
    ('[aliyn]\naccess_key_id = "LTAIsecretish99"\n', "[aliyn]"),
    ("[aliyun\n", "not valid TOML"),
])
def test_each_unusable_credentials_file_is_named_with_its_problem(tmp_path: Path, content: str | None,
                                                                 named: str) -> None:
    """The loader the CLI calls (in-process: the subprocess path is covered above)."""
    path = tmp_path / "upstream.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UpstreamCredentialsError) as error:
        load_upstream_credentials(path, "aliyun")
    assert str(error.value).startswith(f"{path}: ") and named in str(error.value)
    assert "LTAIsecretish99" not in str(error.value)


def test_the_optional_pool_key_and_app_id_are_read_and_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    path = tmp_path / "upstream.toml"
    path.write_text('[aliyun]\naccess_key_id = "LTAIkey"\naccess_key_secret = "s3cr3t-a"\npool_key = "FC2"\n'
                    '[tencent]\nsecret_id = "AKIDkey"\nsecret_key = "s3cr3t-t"\n')
    aliyun, tencent = load_upstream_credentials(path, "aliyun"), load_upstream_credentials(path, "tencent")
    assert (aliyun.access_key_id, aliyun.pool_key, tencent.secret_id, tencent.biz_app_id) == (
        "LTAIkey", "FC2", "AKIDkey", None)
    assert "s3cr3t" not in repr(aliyun) + repr(tencent) and "LTAIkey" not in repr(aliyun)


def test_an_upstream_url_carrying_credentials_is_refused(tmp_path: Path) -> None:
    args = base_args(tmp_path, "native")
    args[1] = "http://user:hunter2pw@127.0.0.1:9"
    message = refused(record(*args))
    assert "--upstream-credentials" in message and "hunter2pw" not in message


@pytest.mark.parametrize("upstream, named", [("ftp://127.0.0.1:9", "http"),
                                             ("http://127.0.0.1:9/prefix", "scheme, host and port")])
def test_an_upstream_url_that_is_not_scheme_host_port_is_refused(upstream: str, named: str) -> None:
    with pytest.raises(UpstreamURLError, match=named):
        upstream_base(upstream)


def test_a_bad_local_credentials_file_is_refused_naming_the_key(tmp_path: Path) -> None:
    local = tmp_path / "local.toml"
    local.write_text('[[aliyun.credentials]]\naccess_key = "x"\n')
    upstream = tmp_path / "upstream.toml"
    upstream.write_text(f'[aliyun]\naccess_key_id = "{UPSTREAM_KEY_ID}"\naccess_key_secret = "{UPSTREAM_SECRET}"\n')
    message = refused(record(*base_args(tmp_path), "--upstream-credentials", str(upstream),
                             "--credentials", str(local)))
    assert "local.toml" in message and "access_key" in message


# ---- a real recording -------------------------------------------------------------------------------------------


class Running:
    """A pstnsim subprocess whose stdout lines are read with a deadline."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*PSTNSIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]

    def line(self, deadline: float = 30.0) -> str:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self._selector.select(timeout=end - time.monotonic()):
                text = self.proc.stdout.readline()  # type: ignore[union-attr]
                if text:
                    return text.strip()
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"no line from {self.proc.args}: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")  # type: ignore[union-attr]

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


@pytest.fixture
def processes() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        running.kill()


def test_recording_aliyun_rpc_through_the_cli_with_credentials_files(tmp_path: Path, processes) -> None:
    provider_config = tmp_path / "upstream-provider.toml"
    provider_config.write_text(f'[[aliyun.credentials]]\naccess_key_id = "{UPSTREAM_KEY_ID}"\n'
                               f'access_key_secret = "{UPSTREAM_SECRET}"\n')
    upstream_credentials = tmp_path / "upstream.toml"
    upstream_credentials.write_text(f'[aliyun]\naccess_key_id = "{UPSTREAM_KEY_ID}"\n'
                                    f'access_key_secret = "{UPSTREAM_SECRET}"\n')
    provider = Running("provider", "--port", "0", "--seed", "3", "--config", str(provider_config))
    processes.append(provider)
    upstream_url = provider.line().split("listening on ")[1].split()[0]
    out = tmp_path / "incident.jsonl"
    recorder = Running("record", "--upstream", upstream_url, "--dialect", "aliyun", "--port", "0", "--out", str(out),
                       "--upstream-credentials", str(upstream_credentials))
    processes.append(recorder)
    banner = recorder.line()
    assert banner.startswith("pstnsim record listening on http://127.0.0.1:")
    assert banner.endswith(f" -> {upstream_url}, trace {out}")
    proxy = banner.split("listening on ")[1].split()[0]

    params = signing.sign_rpc(method="GET", action="QuerySecretNoRemain", version="2017-05-25",
                              params={"City": "Beijing", "SpecId": "1"}, access_key_id="pstnsim-ak",
                              secret="pstnsim-secret", nonce="cli-nonce-1", at=time.time())
    query = "&".join(f"{k}={signing.percent_encode(v)}" for k, v in params.items())
    with urllib.request.urlopen(f"{proxy}/?{query}", timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["Code"] == "OK" and answer["SecretRemainDTO"]["City"] == "Beijing"

    code, out_text, err_text = recorder.stop()
    assert code == 0, err_text
    assert f"recorded 1 exchange(s) to {out}" in out_text
    assert "Traceback" not in err_text and UPSTREAM_SECRET not in err_text + out_text
    trace = read_trace(out)
    assert trace.header.recorder == "pstnsim record" and trace.header.meta["upstream"] == upstream_url
    [line] = trace.exchanges
    assert (line.action, line.status, line.params) == ("QuerySecretNoRemain", 200, {"City": "Beijing", "SpecId": "1"})
    text = out.read_text()
    assert UPSTREAM_KEY_ID not in text and UPSTREAM_SECRET not in text and "pstnsim-secret" not in text
