"""Harness power: how many planted core bugs the default chaos settings catch, and how fast.

    .venv/bin/python benchmarks/harness_power.py [--seeds 7 8 9] [--bug NAME ...]
    .venv/bin/python benchmarks/harness_power.py --mutation [--mutants 60] [--sample-seed 1] [--jobs 2]

For each planted bug (tests/planted_bugs/catalogue.py) and each seed, run the
default-suite scenario aimed at it with the default budget and shrinking off,
and time until the first violation. Prints a table, caught/total, and the
median wall time to catch. Seed 7 is the default seed (the CI gate); the other
seeds show how much the catch depends on luck. Exits 0 whatever it caught: the
misses are figures, listed at the end, not errors.

--mutation measures the same power without bugs written beside the harness:
Cosmic Ray's mutants of binding_core's logic modules, a sample of --mutants
places drawn with --sample-seed, each run against the default gate (the bundled
suite at the default seed, shrinking off) in its own process. Prints mutants
tried, killed, errors, timeouts, survived, the score and every survivor, and
writes them to reports/bench/harness_power.json (see benchmarks/mutation_testing.py).
Exits 0 whatever the score; 2 if the gate fails on the unmutated core.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "planted_bugs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogue import BUGS, BY_NAME  # noqa: E402

from scenarios.runner import DEFAULT_SEED, Runner, RunOptions  # noqa: E402


def catch(bug_name: str, seed: int, report_dir: Path) -> tuple[bool, float, list[str]]:
    bug = BY_NAME[bug_name]
    started = time.perf_counter()
    with bug.applied():
        result = Runner(RunOptions(seed=seed, report_dir=report_dir, shrink=False, dialect=bug.dialect)).run([bug.scenario])
    took = time.perf_counter() - started
    outcome = result.outcomes[0]
    violated = [r.name for r in outcome.results if r.status == "failed"]
    return (not result.passed and not outcome.error), took, violated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[DEFAULT_SEED, 8, 9])
    parser.add_argument("--bug", action="append", choices=sorted(BY_NAME), help="only this bug (repeatable)")
    mutation = parser.add_argument_group("mutation testing")
    mutation.add_argument("--mutation", action="store_true", help="run mutation testing instead of the planted bugs")
    mutation.add_argument("--mutants", type=_positive, default=60, help="mutants to sample (default 60)")
    mutation.add_argument("--sample-seed", type=int, default=1, help="seed of the mutant sample (default 1)")
    mutation.add_argument("--jobs", type=_positive, default=1, help="gate runs at a time (default 1)")
    mutation.add_argument("--timeout", type=float, help="seconds per mutant (default 3x the unmutated gate, >= 60)")
    mutation.add_argument("--module", action="append", metavar="PATH",
                          help="mutate only this module of binding_core, e.g. gray.py (repeatable)")
    mutation.add_argument("--core", type=Path, default=ROOT / "binding_core", help="the binding_core to mutate")
    mutation.add_argument("--examples", type=_positive, help="gate: examples per scenario (default: each file's)")
    mutation.add_argument("--steps", type=_positive, help="gate: steps per example (default: each file's)")
    mutation.add_argument("--scenario", action="append", type=Path, metavar="FILE",
                          help="gate: only this scenario file (default: the bundled default suite)")
    mutation.add_argument("--same-as", type=Path, metavar="JSON",
                          help="try again the mutants of an earlier run's JSON (found by their changed line, so "
                               "an edited core still compares like with like) instead of a new sample")
    mutation.add_argument("--json", type=Path, default=ROOT / "reports" / "bench" / "harness_power.json",
                          help="where the figures go as JSON (default reports/bench/harness_power.json)")
    args = parser.parse_args()
    if args.mutation:
        return run_mutation_part(args)
    logging.getLogger("binding_core").setLevel(logging.CRITICAL)
    names = args.bug or [b.name for b in BUGS]
    rows, times, caught_default = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for seed in args.seeds:
                caught, took, violated = catch(name, seed, Path(tmp))
                rows.append((name, seed, caught, took, violated))
                if caught:
                    times.append(took)
                if caught and seed == DEFAULT_SEED:
                    caught_default += 1
                print(f"{name:28} seed {seed:<4} {'caught' if caught else 'MISSED':7} {took:6.1f}s  "
                      f"{', '.join(violated)}", flush=True)
    total_runs = len(rows)
    caught_runs = sum(1 for r in rows if r[2])
    print()
    if DEFAULT_SEED in args.seeds:
        print(f"default seed {DEFAULT_SEED}: caught {caught_default}/{len(names)} planted bugs")
    print(f"all seeds: caught {caught_runs}/{total_runs} (bug, seed) runs")
    if times:
        print(f"median wall time to catch: {statistics.median(times):.1f}s (max {max(times):.1f}s)")
    missed = [f"{name} (seed {seed})" for name, seed, caught, _, _ in rows if not caught]
    if missed:
        print(f"missed: {', '.join(missed)}")
    # A missed bug is a figure of the harness's power, not a failure of the benchmark: exit 0 either way.
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def run_mutation_part(args: argparse.Namespace) -> int:
    from mutation_testing import LOGIC_MODULES, print_summary, run_mutation

    # SIGTERM ends the run like Ctrl-C: the gate processes in flight are ended with it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    modules = tuple(args.module) if args.module else LOGIC_MODULES
    missing = [m for m in args.module or () if not (args.core / m).is_file()]
    if missing:
        print(f"harness_power: no such module in {args.core}: {', '.join(missing)}", file=sys.stderr)
        return 2
    gate_args = [*(["--examples", str(args.examples)] if args.examples else []),
                 *(["--steps", str(args.steps)] if args.steps else []), *(str(p.resolve()) for p in args.scenario or [])]
    previous = None
    if args.same_as:
        try:
            earlier = json.loads(args.same_as.read_text())["mutation"]
            previous, args.sample_seed = earlier["results"], earlier["sample_seed"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"harness_power: --same-as {args.same_as}: not an earlier run's JSON ({exc})", file=sys.stderr)
            return 2
    try:
        report = run_mutation(args.core.resolve(), count=args.mutants, seed=args.sample_seed, gate_args=gate_args,
                              modules=modules, jobs=args.jobs, timeout=args.timeout, previous=previous,
                              echo=lambda line: print(line, flush=True))
    except RuntimeError as exc:
        print(f"harness_power: {exc}", file=sys.stderr)
        return 2
    print_summary(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"mutation": report.as_json()}, indent=2) + "\n")
    print(f"figures in {args.json}")
    # A survivor is a figure of the harness's power, not a failure of the benchmark: exit 0 either way.
    return 0


if __name__ == "__main__":
    sys.exit(main())
