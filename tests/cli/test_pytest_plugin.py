"""The pytest fixtures in a user's project that never configured pytest-asyncio (no `asyncio_mode = auto`): a
separate pytest run in a fresh folder, as that user would start it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

USERS_TESTS = '''
import asyncio

import aiohttp


async def test_the_provider_fixture_serves(pstnsim_provider):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{pstnsim_provider.url}/v1/bindings", json={"mode": "XB", "b": "13800000002"}) as r:
            assert r.status == 201
    assert len(pstnsim_provider.ledger.bindings()) == 1


async def test_the_core_fixture_binds_through_the_provider(pstnsim_provider, pstnsim_core):
    X = pstnsim_provider.ledger.snapshot()["numbers"][0]["x"]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{pstnsim_core.url}/v1/numbers/{X}/xb", json={"b": "13800000002"}) as r:
            assert r.status in (200, 202), await r.text()
        for _ in range(200):  # until the operation is done, with a deadline
            async with session.get(f"{pstnsim_core.url}/v1/numbers/{X}") as r:
                if (await r.json())["xb"]["status"] == "BIND":
                    break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the bind never finished")
    assert [b.x for b in pstnsim_provider.ledger.bindings()] == [X]


async def test_the_factory_takes_a_seed(pstnsim_provider_factory):
    provider = await pstnsim_provider_factory(seed=3)
    assert provider.config.seed == 3
'''


def run_users_pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
                          cwd=project, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120)


def readme_pytest_snippet() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Using it from Python and pytest", 1)[1].split("\n## ", 1)[0]
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", section, flags=re.S) if "def test_" in block]
    return snippet


def users_project(tmp_path: Path) -> Path:
    project = tmp_path / "users_project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")  # a config of their own, without asyncio_mode
    (project / "test_with_pstnsim.py").write_text(USERS_TESTS)
    (project / "test_from_the_readme.py").write_text(readme_pytest_snippet())
    return project


def test_the_fixtures_work_in_strict_mode_without_any_asyncio_configuration(tmp_path):
    result = run_users_pytest(users_project(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout and "PASSED test_from_the_readme.py::test_bind" in result.stdout
    assert "mode=strict" in result.stdout.replace("Mode.STRICT", "strict")  # pytest-asyncio's header
    assert "not natively supported" not in result.stdout + result.stderr


def test_a_plain_install_brings_what_the_fixtures_need():
    """pytest-asyncio is a dependency of pstnsim itself, not of its dev extra: the fixtures (and looptime's pytest
    plugin, installed with pstnsim) need it in every environment that runs pytest."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert any(dep.replace(" ", "").startswith("pytest-asyncio>=1") for dep in project["dependencies"])
