"""Both backends offer exactly the storage interface, with the same signatures, so the core's code (worker,
service, API) works on either unchanged."""

from __future__ import annotations

import inspect

import pytest

from binding_core.storage import OperationStore
from binding_core.store import Store

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

from binding_core.store_pg import PgStore  # noqa: E402


def interface() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for part in OperationStore.__mro__
            if part.__module__ == "binding_core.storage"
            for name, member in vars(part).items() if callable(member) and not name.startswith("_")}


@pytest.mark.parametrize("backend", [Store, PgStore])
def test_a_backend_has_every_method_of_the_interface_with_its_signature(backend):
    methods = {name: inspect.signature(member) for name, member in vars(backend).items()
               if callable(member) and not name.startswith("_") and name != "open"}
    assert set(methods) == set(interface())
    assert {name: str(sig) for name, sig in methods.items()} == {name: str(sig) for name, sig in interface().items()}
