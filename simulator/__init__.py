"""pstnsim's fake privacy-number provider: a ground-truth ledger behind several wire dialects."""
