import pytest

pytestmark = pytest.mark.looptime


async def test_xb_bind_reaches_bind(world):
    w = await world()
    [x] = w.numbers(1)
    status, body = await w.call("POST", f"/v1/numbers/{x}/xb", json={"b": "13800000001"})
    assert status == 202, body
    await w.settle()
    view = await w.view(x)
    assert view["xb"]["status"] == "BIND"
    assert len(w.provider_bindings(x)) == 1
