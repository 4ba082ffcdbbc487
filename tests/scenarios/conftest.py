"""tests/scenarios: `import servers` (real provider, core and example service processes) in the CLI tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
