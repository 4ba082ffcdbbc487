"""Every fault rule the machine can draw is accepted by the provider's own rule parser."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.fault_library import fault_rules
from scenarios.scenario_file import FAULT_KINDS
from simulator.faults.rules import parse_rule


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_drawn_rules_are_valid_provider_rules(data):
    kinds = data.draw(st.lists(st.sampled_from(FAULT_KINDS), min_size=1, unique=True))
    rule = data.draw(fault_rules(tuple(kinds), ["17100000001", "17100000002"]))
    parsed = parse_rule(rule, default_id="chaos-1")
    assert parsed.id == "chaos-1"
    kind = rule["action"]["kind"]
    assert kind in {"status", "timeout", "latency", "reset", "empty_reply", "truncated_body", "malformed_body",
                    "ghost_success", "delayed_visibility", "drop", "duplicate", "delay", "reorder"}


def test_every_kind_can_be_drawn():
    from hypothesis import find

    for kind in FAULT_KINDS:
        rule = find(fault_rules((kind,), ["17100000001"]), lambda r: True)
        parse_rule(rule, default_id="r")
