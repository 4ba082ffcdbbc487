"""Harness power by mutation testing: how many small changes to binding_core the default chaos gate notices.

Run through `benchmarks/harness_power.py --mutation` (see its --help). The mutants are Cosmic Ray's
(its operators and its code mutation, `cosmic_ray.mutating.mutate_code`); the sampling, the test and the
bookkeeping are ours, because the test is not a test command but the default chaos gate, and because the
checkout is shared: a mutant is never written over the working tree. Each mutant is a copy of binding_core
in a temporary folder, one file mutated, put first on PYTHONPATH of a fresh `mutation_gate.py` process.

Verdicts: killed (a check was violated), error (the gate could not finish: the core crashed or did not
start; a kill too, counted apart), timeout (the gate ran past the limit; a kill, counted apart), survived
(the gate passed). Left out of the score, without running the gate: incompetent (the mutant does not
compile) and equivalent (the mutation is inside an annotation, which `from __future__ import annotations`
leaves a string nothing evaluates: `str | None` to `str << None`).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cosmic_ray.plugins
from cosmic_ray.ast import ast_nodes, get_ast_from_path
from cosmic_ray.mutating import mutate_code

GATE = Path(__file__).resolve().parent / "mutation_gate.py"

# The modules that decide what the core does: the API's handlers, the store, the queue and worker, the alerts,
# gray routing, the breaker and the provider clients of every wire. Left out, with the reason:
#   app.py      wiring and start-up: a mutant there stops the core from starting, a kill that says nothing
#               of the checks;
#   cli.py, config.py, openapi.py: argument and config-file parsing, the API description (their own tests
#               cover them; the chaos gate builds its config in code);
#   schema.py   table definitions; testing.py: pytest fixtures; __init__.py files: nothing to mutate.
LOGIC_MODULES = (
    "alerts.py", "api.py", "clock.py", "gray.py", "numbers.py", "queue.py", "records.py", "service.py",
    "store.py", "transitions.py", "worker.py",
    "provider/base.py", "provider/breaker.py", "provider/http.py", "provider/native.py",
    "provider/aliyun.py", "provider/tencent.py", "provider/volcengine.py",
)


@dataclass(frozen=True)
class Mutant:
    module: str  # relative to binding_core/
    operator: str  # Cosmic Ray's operator name
    occurrence: int  # which of that operator's positions in the module
    line: int
    col: int

    @property
    def key(self) -> str:
        return f"{self.module}:{self.line}:{self.col} {self.operator}#{self.occurrence}"


@dataclass
class MutantResult:
    module: str
    line: int
    operator: str
    occurrence: int
    verdict: str  # killed | error | timeout | survived | incompetent
    before: str = ""
    after: str = ""
    scenario: str = ""
    checks: list[str] = field(default_factory=list)
    error: str = ""
    wall: float = 0.0

    @property
    def where(self) -> str:
        return f"binding_core/{self.module}:{self.line}"


def _operators() -> list[tuple[str, object]]:
    """Every Cosmic Ray operator that takes no arguments (the ones with arguments need a config)."""
    found = []
    for name in sorted(cosmic_ray.plugins.operator_names()):
        cls = cosmic_ray.plugins.get_operator(name)
        if not cls.arguments():
            found.append((name, cls()))
    return found


def enumerate_mutants(core_dir: Path, modules: tuple[str, ...] = LOGIC_MODULES) -> list[Mutant]:
    """All mutants of `modules`, in a fixed order (module, operator, occurrence): the sample's population."""
    mutants = []
    operators = _operators()
    for module in modules:
        tree = get_ast_from_path(core_dir / module)
        nodes = list(ast_nodes(tree))
        for name, operator in operators:
            positions = (pos for node in nodes for pos in operator.mutation_positions(node))  # type: ignore[attr-defined]
            for occurrence, (start, _end) in enumerate(positions):
                mutants.append(Mutant(module, name, occurrence, start[0], start[1]))
    return mutants


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where a module's annotations are, when `from __future__ import annotations` makes them strings that
    nothing runs: a mutant inside one (`str | None` to `str << None`) cannot change what the core does."""
    tree = ast.parse(source)
    lazy = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    if not lazy:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            found += [arg.annotation for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
                      if arg is not None and arg.annotation is not None]
            found += [node.returns] if node.returns is not None else []
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in found]


def in_annotation(mutant: Mutant, spans: list[tuple[tuple[int, int], tuple[int, int]]]) -> bool:
    return any(start <= (mutant.line, mutant.col) < end for start, end in spans)


def sample(mutants: list[Mutant], count: int, seed: int) -> list[Mutant]:
    """`count` mutants at distinct places: draw a place (module, line, column) uniformly, then one operator
    there. Cosmic Ray makes a dozen variants of every `+` or `<`; drawing mutants uniformly would spend most
    of the sample on a few arithmetic places."""
    places: dict[tuple[str, int, int], list[Mutant]] = {}
    for m in mutants:
        places.setdefault((m.module, m.line, m.col), []).append(m)
    rng = random.Random(seed)
    chosen = rng.sample(sorted(places), min(count, len(places)))
    return sorted((rng.choice(places[p]) for p in chosen), key=lambda m: (m.module, m.line, m.col, m.operator))


def same_mutants(core_dir: Path, previous: list[dict]) -> tuple[list[Mutant], list[str]]:
    """The mutants of an earlier run (its JSON "results"), found again in a core that may have been edited since:
    the same module, operator and changed line (before and after), the nearest to its old line number. Returns
    the mutants found and, for the others, where they were (their line was changed or removed)."""
    found, gone = [], []
    by_module: dict[str, list[Mutant]] = {}
    for row in previous:
        module = row["module"]
        if module not in by_module:
            by_module[module] = enumerate_mutants(core_dir, (module,)) if (core_dir / module).is_file() else []
        lines = (core_dir / module).read_text(encoding="utf-8").splitlines() if by_module[module] else []
        candidates = [m for m in by_module[module] if m.operator == row["operator"]
                      and 0 < m.line <= len(lines) and lines[m.line - 1].strip() == row["before"]]
        matches = []
        for m in candidates:
            original, mutated = mutated_source(core_dir, m)
            if mutated is not None and _changed_line(original, mutated) == (row["before"], row["after"]):
                matches.append(m)
        if matches:
            found.append(min(matches, key=lambda m: abs(m.line - row["line"])))
        else:
            gone.append(f"binding_core/{module}:{row['line']} {row['operator']} {row['before']!r}")
    return found, gone


def source_digest(core_dir: Path, modules: tuple[str, ...]) -> str:
    """A digest of the mutated modules: two runs with the same seed draw the same mutants when it matches."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.encode() + b"\0" + (core_dir / module).read_bytes())
    return digest.hexdigest()[:16]


def mutated_source(core_dir: Path, mutant: Mutant) -> tuple[str, str | None]:
    original = (core_dir / mutant.module).read_text(encoding="utf-8")
    operator = cosmic_ray.plugins.get_operator(mutant.operator)()
    try:
        return original, mutate_code(original, operator, mutant.occurrence)
    except Exception:  # noqa: BLE001  Cosmic Ray 8.7's ExceptionReplacer fails on some dotted names: no mutant
        return original, None


def _changed_line(original: str, mutated: str) -> tuple[str, str]:
    """The first changed line before and after, stripped (the mutation in words; blank lines skipped, "" for a
    line removed, such as a decorator)."""
    before, after = [], []
    for line in difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm="", n=0):
        if line.startswith("-") and not line.startswith("---") and line[1:].strip():
            before.append(line[1:].strip())
        elif line.startswith("+") and not line.startswith("+++") and line[1:].strip():
            after.append(line[1:].strip())
    return (before[0] if before else ""), (after[0] if after else "")


_RUNNING: set[subprocess.Popen] = set()  # gate processes in flight: ended if the benchmark is stopped


def stop_running_gates() -> None:
    for proc in list(_RUNNING):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_gate(core_copy_parent: Path | None, gate_args: list[str], timeout: float,
             python: str = sys.executable, gate: Path = GATE) -> tuple[str, dict, float]:
    """Run the gate in a fresh process; `core_copy_parent` (holding a binding_core/) goes first on PYTHONPATH.

    Returns (verdict, the gate's JSON line, wall seconds). The process gets its own session, so a timeout
    ends it and anything it started."""
    env = dict(os.environ)
    if core_copy_parent is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(core_copy_parent), env.get("PYTHONPATH", "")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cwd = core_copy_parent or Path(tempfile.gettempdir())
    started = time.perf_counter()
    proc = subprocess.Popen([python, str(gate), *gate_args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", {}, time.perf_counter() - started
    finally:
        _RUNNING.discard(proc)
    took = time.perf_counter() - started
    lines = [line for line in out.splitlines() if line.startswith("{")]
    try:
        data = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        data = {"error": (err.strip().splitlines() or ["no output"])[-1][:300]}
    # Only the gate's own verdict line counts as a pass or a violation; a process that died another way (an
    # uncaught error exits 1 too) is an error.
    said = data.get("exit")
    verdict = {0: "survived", 1: "killed"}.get(proc.returncode, "error") if said == proc.returncode else "error"
    return verdict, data, took


def try_mutant(core_dir: Path, mutant: Mutant, gate_args: list[str], timeout: float, python: str) -> MutantResult:
    original, mutated = mutated_source(core_dir, mutant)
    result = MutantResult(mutant.module, mutant.line, mutant.operator, mutant.occurrence, "incompetent")
    if mutated is None:
        result.error = "operator found nothing to mutate"
        return result
    result.before, result.after = _changed_line(original, mutated)
    if in_annotation(mutant, annotation_spans(original)):
        result.verdict, result.error = "equivalent", "inside an annotation that nothing evaluates"
        return result
    try:
        compile(mutated, mutant.module, "exec", flags=ast.PyCF_ONLY_AST)
    except SyntaxError as exc:
        result.error = f"does not compile: {exc}"
        return result
    with tempfile.TemporaryDirectory(prefix="pstnsim-mutant-") as tmp:
        copy = Path(tmp) / "binding_core"
        shutil.copytree(core_dir, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / mutant.module).write_text(mutated, encoding="utf-8")
        verdict, data, took = run_gate(Path(tmp), gate_args, timeout, python)
    result.verdict, result.wall = verdict, round(took, 1)
    result.scenario = str(data.get("scenario", ""))
    result.checks = list(data.get("checks", []))
    result.error = str(data.get("error", "")) if verdict == "error" else ""
    if verdict != "timeout" and data.get("core") and Path(str(data["core"])).parent == core_dir.parent:
        # The gate imported the checkout's binding_core, not the mutant: the run would say nothing.
        raise RuntimeError(f"the gate did not import the mutated copy ({data['core']}); see run_gate's PYTHONPATH")
    return result


@dataclass
class MutationReport:
    sample_seed: int
    gate_args: list[str]
    modules: list[str]
    population: int
    places: int
    source_digest: str
    baseline_wall: float
    timeout: float
    results: list[MutantResult]

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)

    @property
    def tried(self) -> int:
        return len(self.results) - self.count("incompetent") - self.count("equivalent")

    @property
    def score(self) -> float:
        """Killed by any means (a violated check, an error, a timeout) over mutants tried."""
        return (self.tried - self.count("survived")) / self.tried if self.tried else 0.0

    def as_json(self) -> dict:
        return {
            "sample_seed": self.sample_seed, "gate_args": self.gate_args, "modules": self.modules,
            "population": self.population, "places": self.places, "source_digest": self.source_digest,
            "baseline_wall": round(self.baseline_wall, 1), "timeout": round(self.timeout, 1),
            "tried": self.tried, "killed": self.count("killed"), "errors": self.count("error"),
            "timeouts": self.count("timeout"), "survived": self.count("survived"),
            "incompetent": self.count("incompetent"), "equivalent": self.count("equivalent"),
            "score": round(self.score, 3),
            "survivors": [{"where": r.where, "operator": r.operator, "occurrence": r.occurrence,
                           "before": r.before, "after": r.after} for r in self.results if r.verdict == "survived"],
            "results": [asdict(r) | {"where": r.where} for r in self.results],
        }


def run_mutation(core_dir: Path, *, count: int, seed: int, gate_args: list[str], modules: tuple[str, ...],
                 jobs: int = 1, timeout: float | None = None, python: str = sys.executable,
                 previous: list[dict] | None = None, echo=print) -> MutationReport:  # type: ignore[no-untyped-def]
    """Sample `count` mutants with `seed` (or take `previous`'s mutants again), run the gate on each; first once
    on the unmutated core (it must pass, and its time sets the timeout: three times it, at least 60 s, unless
    `timeout` is given)."""
    modules = tuple(m for m in modules if (core_dir / m).is_file())
    population = enumerate_mutants(core_dir, modules)
    places = len({(m.module, m.line, m.col) for m in population})
    digest = source_digest(core_dir, modules)
    if previous is None:
        chosen = sample(population, count, seed)
        echo(f"mutation testing: {len(chosen)} of {len(population)} mutants ({places} places) in "
             f"{len(modules)} logic modules of {core_dir}, sample seed {seed}, source digest {digest}")
    else:
        chosen, gone = same_mutants(core_dir, previous)
        echo(f"mutation testing: the {len(previous)} mutants of an earlier run (sample seed {seed}), "
             f"{len(chosen)} found again in {core_dir} (source digest {digest})")
        for where in gone:
            echo(f"  gone (its line changed): {where}")
    echo(f"modules: {', '.join(modules)}")
    with tempfile.TemporaryDirectory(prefix="pstnsim-mutant-") as tmp:
        shutil.copytree(core_dir, Path(tmp) / "binding_core", ignore=shutil.ignore_patterns("__pycache__"))
        verdict, data, baseline = run_gate(Path(tmp), gate_args, timeout or 900, python)
    if verdict != "survived":
        raise RuntimeError(f"the gate does not pass on the unmutated core ({verdict}: {data}); nothing to measure")
    limit = timeout or max(60.0, 3 * baseline)
    echo(f"gate {' '.join(gate_args) or '(default suite, default seed)'}: passes on the unmutated core in "
         f"{baseline:.1f}s; timeout per mutant {limit:.0f}s; {jobs} at a time")
    results: list[MutantResult] = []

    def one(mutant: Mutant) -> MutantResult:
        result = try_mutant(core_dir, mutant, gate_args, limit, python)
        detail = ", ".join(result.checks) or result.error
        echo(f"  {result.verdict:11} {result.wall:6.1f}s  {result.where:40} {mutant.operator.removeprefix('core/'):34}"
             f" {result.scenario} {detail}".rstrip())
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            results = list(pool.map(one, chosen))
        except BaseException:  # Ctrl-C, SIGTERM or an error: no gate process outlives the benchmark
            pool.shutdown(wait=False, cancel_futures=True)
            stop_running_gates()
            raise
    return MutationReport(seed, gate_args, list(modules), len(population), places, digest, baseline, limit, results)


def print_summary(report: MutationReport, echo=print) -> None:  # type: ignore[no-untyped-def]
    echo("")
    echo(f"mutants tried {report.tried}: killed {report.count('killed')} (a check violated), "
         f"errors {report.count('error')}, timeouts {report.count('timeout')}, survived {report.count('survived')}"
         + (f"; left out: {report.count('incompetent')} incompetent (do not compile), {report.count('equivalent')}"
            " equivalent (inside annotations nothing evaluates)"
            if report.count("incompetent") or report.count("equivalent") else ""))
    echo(f"mutation score {report.score:.0%} (killed, errors and timeouts over tried; sample seed "
         f"{report.sample_seed}, source digest {report.source_digest})")
    survivors = [r for r in report.results if r.verdict == "survived"]
    if survivors:
        echo("survivors:")
        for r in survivors:
            echo(f"  {r.where:40} {r.operator.removeprefix('core/'):34} {r.before!r} -> {r.after!r}")
