"""One run of the default chaos gate against whatever `binding_core` this interpreter imports.

    python benchmarks/mutation_gate.py [--seed 7] [--examples N] [--steps N] [FILE ...]

The mutation benchmark (benchmarks/mutation_testing.py) runs this in a fresh process with a mutated copy of
`binding_core` first on PYTHONPATH. It runs what `pstnsim chaos run` runs (the bundled default suite at the
default seed, each scenario on its own dialect) in-process with shrinking off, and stops at the first scenario
that fails: one failure is enough to kill a mutant. Prints one JSON line and exits 0 (passed), 1 (a check
violated) or 2 (a harness error: the core crashed, did not start, or the run could not finish).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=None, help="chaos seed (default: the gate's, 7)")
    parser.add_argument("--examples", type=int, default=None, help="examples per scenario (default: each file's)")
    parser.add_argument("--steps", type=int, default=None, help="steps per example (default: each file's)")
    parser.add_argument("files", nargs="*", type=Path, help="scenario files (default: the bundled default suite)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    started = time.perf_counter()
    verdict: dict[str, object] = {"exit": 0, "scenario": "", "checks": [], "error": ""}
    try:
        import binding_core
        from scenarios.runner import DEFAULT_SEED, Runner, RunOptions
        from scenarios.scenario_file import default_suite

        verdict["core"] = str(Path(binding_core.__file__).parent)
        seed = DEFAULT_SEED if args.seed is None else args.seed
        paths = args.files or default_suite()
        with tempfile.TemporaryDirectory() as reports:
            for path in paths:
                options = RunOptions(seed=seed, report_dir=Path(reports), shrink=False,
                                     examples=args.examples, steps=args.steps)
                result = Runner(options).run([path])
                outcome = result.outcomes[0] if result.outcomes else None
                failed = [r.name for r in outcome.results if r.status == "failed"] if outcome else []
                if failed:
                    verdict.update(exit=1, scenario=path.stem, checks=failed)
                    break
                if not result.passed:
                    cause = (outcome.error if outcome else "no outcome").strip().splitlines()
                    verdict.update(exit=2, scenario=path.stem, error=cause[-1] if cause else "harness error")
                    break
    except Exception as exc:  # a mutant that breaks an import or the run itself: an error, not a pass
        verdict.update(exit=2, error=f"{type(exc).__name__}: {exc}"[:300])
    verdict["wall"] = round(time.perf_counter() - started, 2)
    print(json.dumps(verdict), flush=True)
    return int(verdict["exit"])  # type: ignore[call-overload]


if __name__ == "__main__":
    sys.exit(main())
