"""The fault engine as data: rules (`rules.py`) and seeded decisions (`engine.py`); applied by `simulator.middleware` and `simulator.push`."""

from .engine import Decision, FaultEngine, describe_action
from .rules import FaultRule, RuleError, load_rules_file, parse_rule, parse_rules

__all__ = ["Decision", "FaultEngine", "FaultRule", "RuleError", "describe_action", "load_rules_file", "parse_rule",
           "parse_rules"]
