"""The tools users pick instead of pstnsim, serving the same fixed binding stub, for provider_throughput.py.

WireMock (standalone jar, run with Java 11+) and mountebank (Node) are installed once from npm at pinned versions
into a cache directory the benchmark owns (`.bench-cache/` at the repository root, git-ignored), then started
pinned to one core on ephemeral 127.0.0.1 ports. Their stubs are data: benchmarks/stubs/wiremock/mappings/ and
benchmarks/stubs/mountebank/imposter.json. Anything missing (java, node, npm, the registry) is an `Unavailable`
with the reason, which the benchmark prints as a skipped row instead of failing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

WIREMOCK_VERSION = "3.13.2"  # the npm package `wiremock` ships the standalone jar of the same version
MOUNTEBANK_VERSION = "2.9.1"
STUBS = Path(__file__).resolve().parent / "stubs"

# WireMock's own advice for load tests: no request journal (it grows the heap), no per-request logging, no gzip,
# Jetty with enough container threads; async responses keep Jetty's threads free. One acceptor suffices on one core.
WIREMOCK_TUNING = ["--no-request-journal", "--disable-request-logging", "--disable-gzip", "--disable-banner",
                   "--async-response-enabled", "true", "--container-threads", "20", "--jetty-acceptor-threads", "1"]
JVM_OPTIONS = ["-Xms256m", "-Xmx512m", "-XX:+UseParallelGC"]
MOUNTEBANK_OPTIONS = ["--nologfile", "--loglevel", "error"]


class Unavailable(Exception):
    """This competitor cannot run here; the message says why (printed as the row's `skipped:` reason)."""


def pinned(command: list[str], core: int | None) -> dict:
    """Keyword arguments for subprocess that run `command` pinned to `core`: under `taskset -c core` when taskset
    exists, else with the child's affinity set before it starts (Linux); unpinned when `core` is None."""
    if core is None:
        return {"args": command}
    if shutil.which("taskset") is not None:
        return {"args": ["taskset", "-c", str(core), *command]}
    if hasattr(os, "sched_setaffinity"):
        return {"args": command, "preexec_fn": lambda: os.sched_setaffinity(0, {core})}
    return {"args": command}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def npm_install(cache: Path, package: str, version: str) -> Path:
    """The `node_modules/<package>` of `package@version` under `cache`, installed with npm on first use."""
    prefix = cache / f"{package}-{version}"
    done = prefix / ".installed"
    if not done.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable(f"npm not found (needed once to install {package}@{version})")
        prefix.mkdir(parents=True, exist_ok=True)
        print(f"installing {package}@{version} into {prefix} (npm, once)", flush=True)
        try:
            result = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                     "--ignore-scripts", "--omit=dev", f"{package}@{version}"],
                                    capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"npm install {package}@{version} took over 10 minutes") from None
        if result.returncode != 0:
            lines = [line.removeprefix("npm error").strip() for line in result.stderr.splitlines()]
            why = next((line for line in lines if "Error" in line or "E404" in line), "") or \
                next((line for line in lines if line.startswith("code ")), f"exit code {result.returncode}")
            raise Unavailable(f"npm install {package}@{version} failed: {why}")
        done.write_text(f"{package}@{version}\n")
    return prefix / "node_modules" / package


def java_major() -> int:
    java = shutil.which("java")
    if java is None:
        raise Unavailable("java not found (WireMock needs Java 11+)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(?:1\.)?(\d+)', out)
    if found is None:
        raise Unavailable(f"java -version unreadable: {out.strip()[:80]}")
    major = int(found.group(1))
    if major < 11:
        raise Unavailable(f"java {major} found, WireMock {WIREMOCK_VERSION} needs Java 11+")
    return major


class StubServer:
    """A competitor in its own process; `with` starts it (ready to serve the stub) and stops it."""

    name = ""

    def __init__(self, cache: Path, core: int | None) -> None:
        self.cache, self.core = cache, core
        self.process: subprocess.Popen | None = None
        self.workdir = tempfile.TemporaryDirectory(prefix="pstnsim-bench-")
        self.log_path = Path(self.workdir.name) / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def load_stub(self) -> None:
        """Called once the admin side answers: put the stub in place (when not loaded from files at start)."""

    def __enter__(self) -> "StubServer":
        try:
            command = self.command()  # may raise Unavailable before anything starts
        except BaseException:
            self.workdir.cleanup()
            raise
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(**pinned(command, self.core), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.workdir.name)
        try:
            self._wait_ready(self.admin_url, deadline=time.monotonic() + 180)
            self.load_stub()
            self._wait_ready(self.url + "/v1/bindings/warm", deadline=time.monotonic() + 30, method="DELETE")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.workdir.cleanup()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _wait_ready(self, url: str, deadline: float, method: str = "GET") -> None:
        """Poll `url` until it answers 2xx, the process dies (Unavailable with its log's tail) or the deadline."""
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise Unavailable(f"{self.name} exited {self.process.returncode} at start: {' | '.join(tail)}")
            try:
                with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as response:
                    if response.status < 300:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise Unavailable(f"{self.name} did not answer {url} in time")
            time.sleep(0.2)  # polling a child process's port: nothing to wait on but the next try


class WireMock(StubServer):
    name = f"WireMock {WIREMOCK_VERSION}"

    def command(self) -> list[str]:
        java_major()
        jars = sorted(npm_install(self.cache, "wiremock", WIREMOCK_VERSION).glob("build/wiremock-standalone-*.jar"))
        if not jars:
            raise Unavailable(f"the npm package wiremock@{WIREMOCK_VERSION} holds no standalone jar")
        self.port = free_port()
        self.url = self.admin_url = f"http://127.0.0.1:{self.port}"
        self.admin_url += "/__admin/health"
        return ["java", *JVM_OPTIONS, "-jar", str(jars[-1]), "--port", str(self.port), "--bind-address", "127.0.0.1",
                "--root-dir", str(STUBS / "wiremock"), *WIREMOCK_TUNING]


class Mountebank(StubServer):
    name = f"mountebank {MOUNTEBANK_VERSION}"

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise Unavailable("node not found (mountebank runs on Node.js)")
        mb = npm_install(self.cache, "mountebank", MOUNTEBANK_VERSION) / "bin" / "mb"
        self.admin_port, self.port = free_port(), free_port()
        self.admin_url = f"http://127.0.0.1:{self.admin_port}/imposters"
        self.url = f"http://127.0.0.1:{self.port}"
        return [node, str(mb), "start", "--port", str(self.admin_port), "--host", "127.0.0.1", "--localOnly",
                "--pidfile", str(Path(self.workdir.name) / "mb.pid"), *MOUNTEBANK_OPTIONS]

    def load_stub(self) -> None:
        imposter = json.loads((STUBS / "mountebank" / "imposter.json").read_text())
        imposter["port"] = self.port
        request = urllib.request.Request(self.admin_url, data=json.dumps(imposter).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except urllib.error.HTTPError as refused:
            raise Unavailable(f"mountebank refused the imposter: {refused.code} {refused.read()[:200]!r}") from None


COMPETITORS = {"wiremock": WireMock, "mountebank": Mountebank}
