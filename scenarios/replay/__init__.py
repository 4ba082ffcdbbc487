"""Replaying a provider trace against a binding service (`pstnsim replay`), and chaos failures as traces."""
