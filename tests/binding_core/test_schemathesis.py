"""schemathesis against the running core's served OpenAPI document: every operation, positive and negative
data, every check, zero failures.

The core and its provider run on their own loop in a daemon thread (real time), because schemathesis's
Python API sends requests with `requests`, which blocks. Generation is deterministic (`derandomize=True`,
no example database) and requests go one at a time. The core's background work may finish sooner or later
between requests, which can change a status (202 vs 409), never whether the answer conforms.
"""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from binding_core.app import Core
from binding_core.clock import LoopClock
from binding_core.numbers import InvalidNumber, normalize
from binding_core.openapi import document
from simulator.server import Provider
from simulator.testing import provider_config

from .conftest import core_config

OPERATIONS = [f"{method.upper()} {path}" for path, item in document()["paths"].items() for method in item]
# Negative data needs an input to break: operations that take no parameter and no body have none.
WITH_INPUT = [f"{method.upper()} {path}" for path, item in document()["paths"].items() for method, op in item.items()
              if op.get("parameters") or op.get("requestBody")]
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [(label, GenerationMode.NEGATIVE) for label in WITH_INPUT]
EXAMPLES_PER_OPERATION = 8
SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# Valid requests may still meet the state (409 STATE_CONFLICT), an unknown operation id (404), or a
# provider refusal passed on by the old synchronous path (409, 422) after a gray-list change.
ACCEPTED_POSITIVE = ["2xx", "404", "409", "422"]
CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_POSITIVE}}}


class ThreadedWorld:
    """Provider and core on one loop in a daemon thread, for a blocking client."""

    def __init__(self, db_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="core-schemathesis", daemon=True)
        self.thread.start()
        self.provider = Provider(provider_config(5))
        self._run(self.provider.start())
        self.core = Core(core_config(), provider_url=self.provider.url, db_path=db_path,
                         clock=LoopClock(), rng=random.Random("schemathesis"))
        self._run(self.core.start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        try:
            self._run(self.core.stop())
            self._run(self.provider.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def core_url(tmp_path_factory) -> Iterator[str]:
    world = ThreadedWorld(tmp_path_factory.mktemp("schemathesis") / "core.db")
    try:
        yield world.core.url
    finally:
        world.stop()


def _distinct_numbers(case: Any) -> bool:
    """The one rule the schema cannot state: x, a and b are different numbers (+86 or not)."""
    numbers = [unquote(x) if isinstance(x := (case.path_parameters or {}).get("x"), str) else x]  # "%2B86..."
    if isinstance(case.body, dict):
        numbers += [case.body.get("a"), case.body.get("b")]
    try:
        national = [normalize(n, "n") for n in numbers if n is not None]
    except InvalidNumber:
        return True  # not a number at all: negative data, left as generated
    return len(set(national)) == len(national)


@pytest.fixture(scope="module")
def schema(core_url: str) -> schemathesis.schemas.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{core_url}/openapi.json", config=SchemathesisConfig.from_dict(CONFIG))
    loaded.config.update(base_url=core_url)
    return loaded


def test_the_served_document_is_the_contract(schema) -> None:
    assert schema.raw_schema == document()


@pytest.mark.parametrize("label, mode", CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_every_operation_conforms(schema, label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    statuses: list[int] = []

    @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, **SETTINGS)
    @given(case=operation.as_strategy(generation_mode=mode).filter(_distinct_numbers))
    def run(case) -> None:
        response = case.call_and_validate()  # every registered check
        statuses.append(response.status_code)

    run()
    assert statuses, f"no example was generated for {label} ({mode.value})"
    if mode is GenerationMode.NEGATIVE:
        assert all(400 <= s < 500 for s in statuses), statuses
