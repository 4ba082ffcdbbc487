"""Stand-in numbers: the same stand-in everywhere, in every wire form; X numbers and other digits kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.traces import Pseudonyms
from simulator.traces.meaning import national

MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True) | st.from_regex(r"1990000000[0-9]", fullmatch=True)


def test_each_real_number_gets_one_stand_in_wherever_and_however_it_appears():
    names = Pseudonyms(keep=["17000000001"])
    names.learn({"PhoneNoA": "13900000001", "nested": [{"Dst": "008613800000002"}]})
    text = {
        "query": "PhoneNoA=13900000001&PhoneNoB=%2B8613800000002&PhoneNoX=17000000001",
        "body": {"callee": "+8613800000002", "note": "call 13900000001 back", "long": "1139000000012"},
    }
    out = names.replace(text)
    a, b = names.stand_in("13900000001"), names.stand_in("13800000002")
    assert a != b and a.startswith("199") and len(a) == 11
    assert out["query"] == f"PhoneNoA={a}&PhoneNoB=%2B86{b}&PhoneNoX=17000000001"
    assert out["body"]["callee"] == f"+86{b}" and out["body"]["note"] == f"call {a} back"
    assert out["body"]["long"] == "1139000000012"  # a longer run of digits is not a number we know


def test_x_numbers_are_kept():
    names = Pseudonyms(keep=["17000000001"])
    names.learn({"a": "17000000001"})
    assert names.stand_in("17000000001") == "17000000001" and len(names) == 0


@settings(max_examples=50, derandomize=True, database=None)
@given(st.lists(MOBILES, min_size=1, max_size=20, unique=True))
def test_stand_ins_are_distinct_valid_mobiles_and_never_a_real_number(reals):
    names = Pseudonyms()
    names.learn([{"b": real} for real in reals])  # one exchange names them all before any is replaced
    stand_ins = [names.stand_in(r) for r in reals]
    assert len(set(stand_ins)) == len(reals)
    assert all(national(s) == s and s[:2] == "19" and len(s) == 11 for s in stand_ins)
    assert not set(stand_ins) & set(reals)
    assert names.replace(" ".join(reals)) == " ".join(stand_ins)
