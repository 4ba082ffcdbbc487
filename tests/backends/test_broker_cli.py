"""`pstnsim core --broker`: what the operator sees when the broker cannot be used (exit 2, one clear line,
the password masked), and the one line a ready replica prints."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from binding_core.broker.connection import connect
from binding_core.broker.topology import declare

SECRET = "s3cr3t-pw"


def core(tmp_path: Path, *args: str, block_aio_pika: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `pstnsim core` on a SQLite file in tmp_path until it exits (the cases here never get to serve)."""
    prelude = "import sys; sys.modules['aio_pika'] = None; " if block_aio_pika else "import sys; "
    code = prelude + "from binding_core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "--db", str(tmp_path / "core.db"), "--provider-url",
                           "http://127.0.0.1:9", "--port", "0", *args], capture_output=True, text=True, timeout=60)


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    return result.stderr


@pytest.mark.parametrize(("url", "said"), [
    (f"http://guest:{SECRET}@127.0.0.1:5672/", "a broker URL is amqp:// or amqps://"),
    (f"amqp://guest:{SECRET}@127.0.0.1:notaport/", "is not a URL"),
    ("amqp:///vhost", "names no host"),
])
def test_a_url_that_is_not_a_broker_is_refused_before_anything_starts(tmp_path, url, said):
    assert said in refused(core(tmp_path, "--broker", url))
    assert not (tmp_path / "core.db").exists()


def test_an_unreachable_broker_is_refused_with_its_address_and_the_password_masked(tmp_path):
    stderr = refused(core(tmp_path, "--broker", f"amqp://guest:{SECRET}@127.0.0.1:1/"))
    assert "pstnsim core: cannot use the broker: cannot reach the broker amqp://guest:***@127.0.0.1:1/" in stderr


def test_without_aio_pika_a_broker_is_refused_naming_the_extra(tmp_path):
    stderr = refused(core(tmp_path, "--broker", "amqp://guest:guest@127.0.0.1:5672/", block_aio_pika=True))
    assert "pip install 'pstnsim[rabbitmq]'" in stderr


def test_a_bad_namespace_or_delivery_limit_is_refused(tmp_path):
    assert "is not a namespace" in refused(core(tmp_path, "--broker", "amqp://127.0.0.1/", "--broker-namespace", "a b"))
    config = tmp_path / "core.toml"
    config.write_text('[broker]\nurl = "amqp://127.0.0.1/"\ndelivery_limit = 0\n')
    assert "[broker] delivery_limit must be >= 1" in refused(core(tmp_path, "--config", str(config)))


def test_a_namespace_whose_queues_have_another_delivery_limit_is_refused(tmp_path, pstnsim_rabbitmq_url,
                                                                         pstnsim_broker_namespace):
    async def declare_with_limit_3() -> None:
        connection = await connect(pstnsim_rabbitmq_url, robust=False)
        await declare(await connection.channel(), pstnsim_broker_namespace, delivery_limit=3)
        await connection.close()
    asyncio.run(declare_with_limit_3())
    stderr = refused(core(tmp_path, "--broker", pstnsim_rabbitmq_url, "--broker-namespace", pstnsim_broker_namespace))
    assert f"the broker's queues for namespace '{pstnsim_broker_namespace}' exist with other settings" in stderr


async def test_a_replica_with_a_broker_says_so_when_ready_and_stops_cleanly(tmp_path, pstnsim_rabbitmq_url,
                                                                          pstnsim_broker_namespace):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "binding_core.cli", "--db", str(tmp_path / "core.db"), "--provider-url",
        "http://127.0.0.1:9", "--port", "0", "--broker", pstnsim_rabbitmq_url, "--broker-namespace",
        pstnsim_broker_namespace, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert "pstnsim core listening on http://127.0.0.1:" in line
    assert f"namespace {pstnsim_broker_namespace}" in line and ":***@" in line


def test_the_core_without_a_broker_never_loads_aio_pika():
    code = ("import sys, binding_core.cli, binding_core.app, binding_core.testing; "
            "sys.exit('aio_pika' in sys.modules or 'aiormq' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
