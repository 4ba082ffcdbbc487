"""schemathesis against the running provider's served OpenAPI document: every operation, positive and
negative data, all checks, then stateful sequences along the document's links (create -> get -> patch ->
delete -> get 404). Zero failures is the bar.

Why the provider runs in a background thread: schemathesis's Python API sends each request with
`requests`, which blocks, so the provider cannot share the test's event loop; it gets its own loop in a
daemon thread. The run is still deterministic: `derandomize=True` and no example database fix the
generated data; the provider starts from a fixed seed, is reset before every example (Hypothesis may run
an example again and must see the same answers), and its clock stands still (a `ManualClock` nobody
advances), so a short `expires_in` cannot expire a binding halfway through a slow run; requests go one at
a time, each waiting for its answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from simulator.clock import FIXED_EPOCH, ManualClock
from simulator.config import ProviderConfig
from simulator.errors import LedgerError
from simulator.numbers import normalize
from simulator.server import Provider

DOCUMENT = json.loads((Path(__file__).parents[2] / "simulator/dialects/native/openapi.json").read_text())
OPERATIONS = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item
              if method in ("get", "post", "put", "patch", "delete")]
EXAMPLES_PER_OPERATION = 6  # x 9 operations x 2 modes = 108 examples, plus 20 stateful scenarios of <= 8 steps
SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its first example at once
    suppress_health_check=list(HealthCheck),
)


class ThreadedProvider:
    """A provider on its own loop in a daemon thread, for clients that block (requests)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="native-schemathesis", daemon=True)
        self.thread.start()
        self.provider = Provider(config, clock=ManualClock(FIXED_EPOCH))
        asyncio.run_coroutine_threadsafe(self.provider.start(), self.loop).result(10)

    def reset(self) -> None:
        """Back to the seeded initial state (ledger, idempotency keys, journal), on the provider's thread."""

        async def reset() -> None:
            self.provider.reset()

        asyncio.run_coroutine_threadsafe(reset(), self.loop).result(10)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.provider.stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def served() -> Iterator[ThreadedProvider]:
    config = ProviderConfig(seed=3, epoch=FIXED_EPOCH)
    provider = ThreadedProvider(dataclasses.replace(config, pool=dataclasses.replace(config.pool, seed=3)))
    try:
        yield provider
    finally:
        provider.stop()


def _distinct_parties(body: Any) -> bool:
    """The one rule JSON Schema cannot state: a binding's a and b are different numbers (+86 or not)."""
    if not isinstance(body, dict) or not isinstance(body.get("a"), str) or not isinstance(body.get("b"), str):
        return True
    try:
        return normalize(body["a"]) != normalize(body["b"])
    except LedgerError:
        return True  # not a number at all: negative data, left as generated


# Schema-valid data may still be refused for reasons the request alone does not show: 404 and 409 (the
# default), and 422, which this API answers only as IDEMPOTENCY_KEY_REUSED (a key already used for another
# request; 422 as the IETF Idempotency-Key draft says). The stateful run reuses generated keys, so it happens.
ACCEPTED_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_POSITIVE}}}


@pytest.fixture
def schema(served: ThreadedProvider) -> schemathesis.schemas.BaseSchema:
    url = served.provider.url
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json", config=SchemathesisConfig.from_dict(CONFIG))
    loaded.config.update(base_url=url)
    loaded.hook("filter_body")(lambda context, body: _distinct_parties(body))
    return loaded


def test_the_served_document_is_the_one_in_the_repository(schema) -> None:
    assert schema.raw_schema == DOCUMENT


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_conforms(schema, served: ThreadedProvider, label: str, mode: GenerationMode) -> None:
    operation = schema[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
    calls: list[int] = []

    @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, **SETTINGS)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        served.reset()
        response = case.call_and_validate()  # every registered check, as configured by default
        calls.append(response.status_code)

    run()
    assert calls, f"no example was generated for {label} ({mode.value})"


def test_stateful_sequences_along_the_links(schema, served: ThreadedProvider) -> None:
    # The binding lifecycle only: with calls in the mix most steps go to calls and few reach a delete.
    machine = schema.include(path_regex=r"^/v1/bindings").as_state_machine()
    statuses: list[tuple[str, int]] = []

    steps: list[tuple[str, str | None, int]] = []

    class Recorded(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            served.reset()

        def after_call(self, response, case) -> None:
            super().after_call(response, case)
            binding_id = (case.path_parameters or {}).get("binding_id")
            steps.append((f"{case.method} {case.operation.path}", binding_id, response.status_code))

    Recorded.run(settings=hypothesis.settings(max_examples=20, stateful_step_count=8, **SETTINGS))
    seen = {(operation, status) for operation, _, status in steps}
    assert {("POST /v1/bindings", 201), ("GET /v1/bindings/{binding_id}", 200),
            ("PATCH /v1/bindings/{binding_id}", 200), ("DELETE /v1/bindings/{binding_id}", 200)} <= seen
    # The links were followed to the end: a binding deleted, then asked for again, answered 404.
    deleted = {bid for operation, bid, status in steps if operation.startswith("DELETE") and status == 200}
    assert any(op.startswith("GET") and bid in deleted and status == 404 for op, bid, status in steps)
