"""tests/cluster: `import cluster_servers` (the PostgreSQL server the cluster runs create their databases on)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
