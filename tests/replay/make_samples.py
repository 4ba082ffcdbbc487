"""Writes examples/traces/*.trace.jsonl: each a chaos run's failing (shrunk) example with a planted bug.

    .venv/bin/python tests/replay/make_samples.py          # a few minutes: shrinking is most of it

Each sample is the failure trace `pstnsim chaos run` wrote, with two facts added to its header's meta
(`planted_bug`, `made_with`) so that tests/replay/test_samples.py knows which bug it reproduces against.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "planted_bugs"))
sys.path.insert(0, str(ROOT))

from catalogue import BY_NAME  # noqa: E402

from scenarios.runner import Runner, RunOptions  # noqa: E402

OUT = ROOT / "examples" / "traces"
# file name -> (planted bug, scenario, dialect, examples, seed)
SAMPLES = {
    "native_ghost_503_blind_resend.trace.jsonl": ("blind_resend", "axb_ghost_success", "native", 5, 7),
    "aliyun_ghost_503_blind_resend.trace.jsonl": ("blind_resend", "axb_ghost_success", "aliyun", 5, 7),
    "tencent_late_landing_no_sweep.trace.jsonl": ("no_sweep", "late_landing", "tencent", 12, 7),
}


def make(name: str, bug_name: str, scenario: str, dialect: str, examples: int, seed: int) -> Path:
    bug = BY_NAME[bug_name]
    source = Path("scenarios/examples") / f"{scenario}.toml"
    with tempfile.TemporaryDirectory() as reports, bug.applied():
        result = Runner(RunOptions(seed=seed, report_dir=Path(reports), run_id="sample", dialect=dialect,
                                   examples=examples)).run([source])
        written = result.outcomes[0].failure_trace
        if not written:
            raise SystemExit(f"{name}: planted bug {bug_name} was not caught by {scenario} over {dialect}")
        lines = Path(written).read_text().splitlines()
    header = json.loads(lines[0])
    header["meta"]["planted_bug"] = bug_name
    header["meta"]["made_with"] = (f"pstnsim chaos run {source} --seed {seed} --dialect {dialect} --examples "
                                   f"{examples}, with planted bug {bug_name} (tests/planted_bugs/catalogue.py)")
    target = OUT / name
    target.write_text("\n".join([json.dumps(header, ensure_ascii=False, sort_keys=True), *lines[1:]]) + "\n")
    return target


def main() -> None:
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = sys.argv[1:] or list(SAMPLES)
    for name in wanted:
        print(make(name, *SAMPLES[name]), flush=True)


if __name__ == "__main__":
    import os

    os.chdir(ROOT)  # scenario paths in the traces' meta are relative to the repository
    main()
