"""Replaying a provider trace against a binding service (`pstnsim replay`), and chaos failures as traces.

    from scenarios.replay import ReplayOptions, replay_trace
    result = replay_trace("reports/<run>/axb_ghost_success.failure.trace.jsonl", ReplayOptions())
    result.exit_code, result.message()   # 1, "reproduced: provider_agrees_at_each_end"
"""

from .plan import ReplayError
from .replayer import ReplayOptions, ReplayResult, replay_trace

__all__ = ["ReplayError", "ReplayOptions", "ReplayResult", "replay_trace"]
