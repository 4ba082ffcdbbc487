"""Wire dialects: each only parses, checks signatures and shapes envelopes; all share one ledger."""
