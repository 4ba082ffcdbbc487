"""Where the bundled sample incidents are (imported by the replay tests; conftest puts this folder on the path)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "examples" / "traces").glob("*.trace.jsonl"))
