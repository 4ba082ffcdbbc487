"""Retry policy (backoff, cap, alert point) and the strict TOML configuration."""

from __future__ import annotations

import random

import pytest

from binding_core.config import ConfigError, RetrySettings, load_config, parse_config
from binding_core.queue import RetryPolicy


def test_backoff_is_full_jitter_under_an_exponential_cap_and_replays_from_the_seed():
    settings = RetrySettings(max_attempts=10, base_delay=0.5, max_delay=4.0, alert_threshold=5)
    delays = [RetryPolicy(settings, random.Random("s")).backoff(n) for n in range(1, 8)]
    again = [RetryPolicy(settings, random.Random("s")).backoff(n) for n in range(1, 8)]
    assert delays == again
    for n, delay in enumerate(delays, start=1):
        assert 0 <= delay <= min(4.0, 0.5 * 2 ** (n - 1))
    many = [RetryPolicy(settings, random.Random(i)).backoff(6) for i in range(200)]
    assert max(many) > 3.0 and min(many) < 1.0  # jitter spreads over the whole window


def test_attempts_are_capped_and_the_alert_comes_at_the_threshold():
    policy = RetryPolicy(RetrySettings(max_attempts=4, alert_threshold=3), random.Random(0))
    decisions = [policy.after_failure(n) for n in range(1, 5)]
    assert [d.retry for d in decisions] == [True, True, True, False]
    assert [d.alert for d in decisions] == [False, False, True, True]


def test_a_threshold_above_the_cap_still_alerts_when_dead_lettered():
    policy = RetryPolicy(RetrySettings(max_attempts=2, alert_threshold=5), random.Random(0))
    assert policy.alert_at == 2 and policy.after_failure(2).alert


def test_the_issue_s_example_config_loads(tmp_path):
    path = tmp_path / "core.toml"
    path.write_text(
        '[gray]\nall = true\nnumbers = ["17100000001"]\n'
        "[retry]\nmax_attempts = 8\nbase_delay = 0.5\nmax_delay = 30\nalert_threshold = 5\n"
        "[provider]\ntimeout = 3\n"
    )
    config = load_config(path)
    assert config.gray is not None and config.gray.all and config.gray.numbers == ("17100000001",)
    assert config.retry.max_delay == 30.0 and config.provider.timeout == 3.0
    assert config.source == path


def test_every_key_is_optional():
    config = parse_config({})
    assert config.gray is None and config.retry.max_attempts == 8


@pytest.mark.parametrize(
    "data, named",
    [
        ({"retyr": {}}, "retyr"),
        ({"retry": {"max_attempt": 3}}, "max_attempt"),
        ({"retry": {"max_attempts": "3"}}, "max_attempts"),
        ({"retry": {"max_attempts": True}}, "max_attempts"),
        ({"gray": {"numbers": "171"}}, "numbers"),
        ({"provider": {"timeout": 0}}, "timeout"),
        ({"provider": []}, "[provider]"),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused_by_name(data, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)


def test_a_broken_file_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[retry\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(path)
