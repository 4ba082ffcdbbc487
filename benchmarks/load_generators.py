"""Load generators for provider_throughput.py: `wrk` with a create+delete Lua script, and a raw-socket Python
client (one or more processes) for what wrk cannot do, such as signing every vendor request afresh."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import queue
import re
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from stub_servers import pinned

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "create_delete.lua"


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_s: float  # the generator's own CPU seconds over the load: near its wall time, the generator set the pace


def wrk_load(url: str, seconds: float, connections: int, core: int | None) -> Load:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(WRK_SCRIPT), url]
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(**pinned(command, core), capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", out)
    if total is None:
        raise RuntimeError(f"wrk printed no totals:\n{out}")
    elapsed = float(total.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[total.group(3)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Load(int(total.group(1)), elapsed, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"),
                (int(errors.group(1)) if errors else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
                after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime)


def _wrk_ms(out: str, label: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if found is None:
        return float("nan")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


class Cycle:
    """Requests of one create+delete cycle for one connection, as raw HTTP/1.1 bytes (signed afresh)."""

    def __init__(self, dialect: str, host: str, index: int) -> None:
        self.dialect, self.host, self.index = dialect, host, index
        self.nonce = 0
        self.a, self.b = f"138{index:08d}", f"139{index:08d}"

    def create(self) -> bytes:
        if self.dialect == "native":
            body = json.dumps({"mode": "XB", "b": self.b}).encode()
            return self._post("/v1/bindings", body, {"Content-Type": "application/json"})
        if self.dialect == "aliyun":
            return self._aliyun("BindAxb", {"PoolKey": "FC100000000000001", "PhoneNoA": self.a, "PhoneNoB": self.b,
                                            "Expiration": "2099-01-01 00:00:00"})
        return self._tencent("GetVirtualNum", {"BizAppId": "pstnsim", "Dst": "0086" + self.b})

    def delete(self, answer: dict) -> bytes:
        if self.dialect == "native":
            return (f"DELETE /v1/bindings/{answer['binding_id']} HTTP/1.1\r\nHost: {self.host}\r\n"
                    "Content-Length: 0\r\n\r\n").encode()
        if self.dialect == "aliyun":
            bound = answer["SecretBindDTO"]
            return self._aliyun("UnbindSubscription", {"PoolKey": "FC100000000000001", "SubsId": bound["SubsId"],
                                                       "SecretNo": bound["SecretNo"]})
        return self._tencent("DelVirtualNum", {"BizAppId": "pstnsim", "BindId": answer["Response"]["BindId"]})

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}Content-Length: {len(body)}\r\n\r\n").encode() + body

    def _aliyun(self, action: str, params: dict[str, str]) -> bytes:
        from simulator.dialects.aliyun import signing

        self.nonce += 1
        query = signing.sign_rpc(method="GET", action=action, version="2017-05-25", params=params,
                                 access_key_id="pstnsim-ak", secret="pstnsim-secret",
                                 nonce=f"bench-{os.getpid()}-{self.index}-{self.nonce}", at=time.time())
        return f"GET /?{urlencode(query)} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()

    def _tencent(self, action: str, params: dict[str, str]) -> bytes:
        from simulator.dialects.tencent import signing

        body = json.dumps(params).encode()
        timestamp = int(time.time())
        canonical = signing.tc3_canonical_request("POST", "", {"content-type": "application/json", "host": self.host},
                                                  ("content-type", "host"), body)
        return self._post("/", body, {
            "Content-Type": "application/json", "X-TC-Action": action, "X-TC-Version": "2019-08-23",
            "X-TC-Timestamp": str(timestamp),
            "Authorization": signing.tc3_authorization("pstnsim-id", "pstnsim-secret", timestamp, canonical)})


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if length:
        return status, await reader.readexactly(int(length.group(1)))
    if re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):  # WireMock and mountebank answer in chunks
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty line after the last chunk (no trailers)
        return status, b"".join(chunks)
    return status, b""


async def _python_load(port: int, dialect: str, seconds: float, connections: int, first: int) -> tuple[int, list[float], int]:
    host = f"127.0.0.1:{port}"
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection(index: int) -> None:
        nonlocal errors
        cycle = Cycle(dialect, host, index)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, body = await _exchange(reader, writer, cycle.create())
                middle = time.perf_counter()
                answer = json.loads(body)
                if status >= 300 or "Error" in answer.get("Response", {}) or answer.get("Code", "OK") != "OK":
                    errors += 1
                    continue
                status, _ = await _exchange(reader, writer, cycle.delete(answer))
                errors += status >= 300
                latencies.extend((middle - started, time.perf_counter() - middle))
        finally:
            writer.close()

    await asyncio.gather(*(connection(first + i) for i in range(connections)))
    return len(latencies), latencies, errors


def _python_worker(port: int, dialect: str, seconds: float, connections: int, first: int, core: int | None, out) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    cpu = time.process_time()
    requests, latencies, errors = asyncio.run(_python_load(port, dialect, seconds, connections, first))
    out.put((requests, latencies, errors, time.process_time() - cpu))


def python_load(port: int, dialect: str, seconds: float, connections: int, processes: int, core: int | None) -> Load:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    share = max(1, connections // processes)
    workers = [ctx.Process(target=_python_worker, args=(port, dialect, seconds, share, i * share, core, out))
               for i in range(processes)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    results = []
    while len(results) < len(workers):
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if failed or time.perf_counter() - started > seconds + 120:
                for worker in workers:
                    worker.kill()
                raise RuntimeError(f"the Python generator's workers failed (exit codes {failed}; "
                                   "their traceback is above)" if failed else "the Python generator hung") from None
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(10)
    latencies = sorted(t for _, ts, _, _ in results for t in ts)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return Load(sum(r[0] for r in results), min(elapsed, seconds + 1.0), cuts[49] * 1000, cuts[98] * 1000,
                sum(r[2] for r in results), sum(r[3] for r in results))
