"""The per-key linearizability checker on hand-made histories."""

from __future__ import annotations

from scenarios.checkers.linearizability import check_history, check_key
from scenarios.history import History, Outcome


def op(history: History, kind: str, value, start: float, end: float | None, outcome: Outcome, x="17100000001", mode="XB", detail=""):
    o = history.invoke(x, mode, kind, value, start)
    history.complete(o, outcome, end, detail)
    return o


def verdicts(history: History) -> list[bool | None]:
    return [v.linearizable for v in check_history(history)]


def test_sequential_bind_read_unbind_is_linearizable():
    h = History()
    op(h, "bind", ("13800000001",), 0, 1, Outcome.OK)
    op(h, "read", ("BIND", "13800000001"), 2, 3, Outcome.OK)
    op(h, "unbind", None, 4, 5, Outcome.OK)
    op(h, "read", ("NOT_BIND",), 6, 7, Outcome.OK)
    assert verdicts(h) == [True]


def test_two_concurrent_binds_both_ok_is_not_linearizable():
    h = History()
    op(h, "bind", ("13800000001",), 0, 5, Outcome.OK)
    op(h, "bind", ("13800000002",), 1, 6, Outcome.OK)
    assert verdicts(h) == [False]


def test_concurrent_bind_with_one_refused_is_linearizable():
    h = History()
    op(h, "bind", ("13800000001",), 0, 5, Outcome.OK)
    op(h, "bind", ("13800000002",), 1, 2, Outcome.FAIL, detail="409")
    op(h, "read", ("BIND", "13800000001"), 6, 7, Outcome.OK)
    assert verdicts(h) == [True]


def test_read_of_a_value_never_written_is_not_linearizable():
    h = History()
    op(h, "bind", ("13800000001",), 0, 1, Outcome.OK)
    op(h, "read", ("BIND", "13800000009"), 2, 3, Outcome.OK)
    assert verdicts(h) == [False]


def test_stale_read_after_unbind_returned_is_not_linearizable():
    h = History()
    op(h, "bind", ("13800000001",), 0, 1, Outcome.OK)
    op(h, "unbind", None, 2, 3, Outcome.OK)
    op(h, "read", ("BIND", "13800000001"), 4, 5, Outcome.OK)
    assert verdicts(h) == [False]


def test_overlapping_read_may_see_either_side():
    h = History()
    op(h, "bind", ("13800000001",), 0, 10, Outcome.OK)
    op(h, "read", ("NOT_BIND",), 1, 2, Outcome.OK)
    op(h, "read", ("BIND", "13800000001"), 3, 4, Outcome.OK)
    assert verdicts(h) == [True]


def test_read_order_inside_one_bind_cannot_go_backwards():
    h = History()
    op(h, "bind", ("13800000001",), 0, 10, Outcome.OK)
    op(h, "read", ("BIND", "13800000001"), 1, 2, Outcome.OK)
    op(h, "read", ("NOT_BIND",), 3, 4, Outcome.OK)
    assert verdicts(h) == [False]


def test_info_bind_may_have_taken_effect():
    h = History()
    op(h, "bind", ("13800000001",), 0, None, Outcome.INFO, detail="timeout")
    op(h, "read", ("BIND", "13800000001"), 5, 6, Outcome.OK)
    assert verdicts(h) == [True]


def test_info_bind_may_have_taken_no_effect():
    h = History()
    op(h, "bind", ("13800000001",), 0, None, Outcome.INFO, detail="timeout")
    op(h, "read", ("NOT_BIND",), 5, 6, Outcome.OK)
    op(h, "bind", ("13800000002",), 7, 8, Outcome.OK)
    op(h, "read", ("BIND", "13800000002"), 9, 10, Outcome.OK)
    assert verdicts(h) == [True]


def test_info_bind_cannot_explain_a_value_it_did_not_write():
    h = History()
    op(h, "bind", ("13800000001",), 0, None, Outcome.INFO, detail="timeout")
    op(h, "read", ("BIND", "13800000002"), 5, 6, Outcome.OK)
    assert verdicts(h) == [False]


def test_info_bind_takes_effect_only_after_its_invoke():
    h = History()
    op(h, "read", ("BIND", "13800000001"), 0, 1, Outcome.OK)
    op(h, "bind", ("13800000001",), 2, None, Outcome.INFO)
    assert verdicts(h) == [False]


def test_keys_are_checked_independently():
    h = History()
    op(h, "bind", ("13800000001",), 0, 1, Outcome.OK, mode="XB")
    op(h, "bind", ("13800000002", "13800000003"), 0, 1, Outcome.OK, mode="AXB")
    op(h, "bind", ("13800000004",), 2, 3, Outcome.OK, x="17100000002")
    op(h, "bind", ("13800000005",), 4, 5, Outcome.OK, x="17100000002")  # second bind on a bound key
    result = {v.key: v.linearizable for v in check_history(h)}
    assert result == {("17100000001", "XB"): True, ("17100000001", "AXB"): True, ("17100000002", "XB"): False}


def test_explanation_names_the_failing_prefix():
    h = History()
    op(h, "bind", ("13800000001",), 0, 1, Outcome.OK)
    op(h, "read", ("BIND", "13800000001"), 2, 3, Outcome.OK)
    op(h, "read", ("NOT_BIND",), 4, 5, Outcome.OK)
    op(h, "read", ("NOT_BIND",), 6, 7, Outcome.OK)
    verdict = check_key(("17100000001", "XB"), h.operations)
    assert verdict.linearizable is False
    assert "first 3 operation" in verdict.explanation


def test_two_hundred_operations_check_quickly_enough_to_finish():
    """A long valid history with many overlapping refused binds still decides (no budget blow-up)."""
    h = History()
    t = 0.0
    for i in range(50):
        b = f"1380000{i:04d}"
        op(h, "bind", (b,), t, t + 3, Outcome.OK)
        op(h, "bind", ("13900000000",), t + 1, t + 2, Outcome.FAIL, detail="409")
        op(h, "read", ("BIND", b), t + 4, t + 5, Outcome.OK)
        op(h, "unbind", None, t + 6, t + 8, Outcome.OK)
        t += 10
    assert verdicts(h) == [True]


def test_initial_value_of_a_long_lived_service_is_honoured():
    h = History()
    op(h, "read", ("BIND", "13800000001"), 0, 1, Outcome.OK)
    op(h, "unbind", None, 2, 3, Outcome.OK)
    assert [v.linearizable for v in check_history(h)] == [False]
    assert [v.linearizable for v in check_history(h, {("17100000001", "XB"): ("BIND", "13800000001")})] == [True]
