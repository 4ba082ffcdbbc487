"""The provider's ground truth: numbers, bindings, calls. Every state change goes through `Ledger`.

- records.py: the data (Binding, CallRecord, LedgerEvent) and the modes;
- rules.py: which parties a mode takes, what may share an X, where a call goes (pure functions);
- core.py: `Ledger`, the commands and queries, history kept up to HISTORY_LIMIT;
- indexes.py, pool_index.py: the indexes that make each request cost the same with 40 numbers or 100,000;
- expiry.py: when bindings expire; visibility.py: the delayed-visibility fault's shadows.
"""

from .core import HISTORY_LIMIT, Ledger
from .records import (
    MODES,
    PARTY_MODES,
    SINGLE_MODES,
    Binding,
    BindingStatus,
    CallRecord,
    LedgerEvent,
    Mode,
)
from .visibility import visibility_delay

__all__ = ["HISTORY_LIMIT", "MODES", "PARTY_MODES", "SINGLE_MODES", "Binding", "BindingStatus", "CallRecord",
           "Ledger", "LedgerEvent", "Mode", "visibility_delay"]
