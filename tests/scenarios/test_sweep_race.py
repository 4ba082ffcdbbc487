"""The sweep's race rule (rebind_at_doubt_end): the bundled scenario turns it on over a vendor wire, and a
failing example's report tells each race in words."""

from __future__ import annotations

from scenarios.reports.sequence import parse_program, rule_words
from scenarios.scenario_file import EXAMPLES_DIR, load_scenario


def test_sweep_race_aims_at_the_race_over_aliyun_with_slow_lookups():
    scenario = load_scenario(EXAMPLES_DIR / "sweep_race.toml")
    assert scenario.workload.rebind_at_doubt_end and scenario.dialect == "aliyun"
    timeout = scenario.core["provider"]["timeout"]
    slow = [f for f in scenario.faults if f["action"]["kind"] == "latency"
            and set(f["match"]["operation"]) <= {"list_bindings", "get_binding"}]
    # Slow, yet answered: a lookup that times out would be a failed lookup, not a gap to race in.
    assert slow and all(0 < f["action"]["seconds"] < timeout for f in slow)


def test_a_race_reads_as_what_the_harness_did():
    program = ["state.rebind_at_doubt_end(races=[(0, 'XB', 0, 0, True, 5.0, 0.5), (1, 'AXB', 1, 0, False, 20.0, -1.0)])"]
    words = rule_words(parse_program(program)[0], numbers=["10010", "10020"], parties=["1301", "1302", "1303"])
    assert words.startswith("the sweep's race: bind XB on X=10010 B=1302 (the provider holds its first create 5.00 s)")
    assert "bind X again 0.50 s after its in-doubt window ends, with the same numbers" in words
    assert "bind AXB on X=10020 A=1302 B=1301" in words and "1.00 s before its in-doubt window ends, with another B" in words
