"""Traces: the versioned JSON Lines record of provider exchanges (and business operations) that pstnsim
writes, records through a proxy, imports from HAR, serves back as a provider, replays against a service
and compares by meaning. See docs/traces.md."""

from .format import (
    FORMAT, VERSION, BusinessOperation, Exchange, Failure, Header, Trace, TraceError, TraceWriter, parse_lines,
    read_trace, write_trace,
)
from .meaning import Meaning, detect_dialect, match_key, meaning_of
from .pseudonyms import Pseudonyms

__all__ = [
    "FORMAT", "VERSION", "BusinessOperation", "Exchange", "Failure", "Header", "Trace", "TraceError", "TraceWriter",
    "parse_lines", "read_trace", "write_trace", "Meaning", "detect_dialect", "match_key", "meaning_of", "Pseudonyms",
]
