"""A PostgreSQL connection cut while the API answers: the client gets 503 STORE_BUSY with Retry-After, never a
500, and a change already accepted still happens (it was committed before the cut)."""

from __future__ import annotations

import aiohttp
import pytest

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

from binding_core.store_pg import PgStore  # noqa: E402

from .conftest import poll, query  # noqa: E402

B = "13800000001"


def cut(url: str, store: PgStore) -> None:
    """End the store's own server session (as a restarted server or a dropped link would); wait until it is gone."""
    assert store._conn is not None
    pid = store._conn.info.backend_pid
    assert query(url, "SELECT pg_terminate_backend(%s, 5000) AS ok", [pid]) == [{"ok": True}]


async def test_a_connection_cut_right_after_an_accept_answers_503_and_the_bind_still_happens(
        pstnsim_provider, pstnsim_core_factory, pstnsim_postgres_url, monkeypatch):
    core = await pstnsim_core_factory(pstnsim_provider.url, db_path=pstnsim_postgres_url)
    store = core.store
    assert isinstance(store, PgStore)
    x = pstnsim_provider.ledger.numbers()[0].x
    committed = []
    begin = store.begin

    def begin_then_cut(*args, **kwargs):
        op = begin(*args, **kwargs)  # committed
        committed.append(op.id)
        cut(pstnsim_postgres_url, store)  # the answer's read of the number is the next statement on it
        return op

    monkeypatch.setattr(store, "begin", begin_then_cut)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{core.url}/v1/numbers/{x}/xb", json={"b": B}) as response:
            body = await response.json()
            assert response.status == 503, body
            assert response.headers["Retry-After"] == "1"
        assert body["code"] == "STORE_BUSY"
        assert body["operation_id"] == committed[0]
        assert committed[0] in body["message"]

        async def done() -> bool:
            return store.operation(committed[0]).state == "done"

        await poll(done, "the accepted bind to finish")
        async with http.get(f"{core.url}/v1/numbers/{x}") as response:
            view = (await response.json())["xb"]
    held = pstnsim_provider.ledger.bindings(x=x)
    assert (view["status"], view["b"]) == ("BIND", B)
    assert [b.binding_id for b in held] == [view["binding_id"]]  # made once


async def test_a_read_on_a_cut_connection_answers_503_and_the_next_one_reconnects(
        pstnsim_provider, pstnsim_core_factory, pstnsim_postgres_url):
    core = await pstnsim_core_factory(pstnsim_provider.url, db_path=pstnsim_postgres_url)
    x = pstnsim_provider.ledger.numbers()[0].x
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{core.url}/v1/numbers/{x}") as response:
            assert response.status == 200
        cut(pstnsim_postgres_url, core.store)  # type: ignore[arg-type]
        async with http.get(f"{core.url}/v1/numbers/{x}") as response:
            body = await response.json()
            assert (response.status, body["code"]) == (503, "STORE_BUSY"), body
            assert response.headers["Retry-After"] == "1"
        async with http.get(f"{core.url}/v1/numbers/{x}") as response:
            assert response.status == 200
            assert (await response.json())["xb"]["status"] == "NOT_BIND"
