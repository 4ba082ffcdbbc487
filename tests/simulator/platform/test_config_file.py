"""`--config FILE` parsing (pure): every key optional, unknown keys and bad values refused naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from simulator.config import AliyunCredentials, ProviderConfig, TencentCredentials
from simulator.config_file import ConfigFileError, load_provider_config, parse_provider_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "provider.toml"


def parse(text: str) -> ProviderConfig:
    return parse_provider_config(tomllib.loads(text))


def test_an_empty_file_is_the_default_config():
    assert parse("") == ProviderConfig()


def test_every_key_is_read():
    config = parse(
        """
        seed = 7
        host = "127.0.0.2"
        port = 9000
        webhook_url = "http://127.0.0.1:9001/hook"
        request_deadline = 12.5

        [pool]
        per_city = 2
        stock_per_city = 3
        cities = ["Wuhan", "Chengdu"]
        prefixes = ["170", "171"]
        pool_key = "FC200000000000002"

        [[aliyun.credentials]]
        access_key_id = "team-a"
        access_key_secret = "sa"
        report_url = "http://127.0.0.1:9001/aliyun"

        [[aliyun.credentials]]
        access_key_id = "team-b"
        access_key_secret = "sb"
        pool_key = "FC300000000000003"

        [[tencent.credentials]]
        secret_id = "tid"
        secret_key = "tkey"
        biz_app_id = "app-1"
        """
    )
    assert (config.seed, config.host, config.port, config.webhook_url) == (7, "127.0.0.2", 9000, "http://127.0.0.1:9001/hook")
    assert config.request_deadline == 12.5
    pool = config.pool
    assert (pool.seed, pool.per_city, pool.stock_per_city) == (7, 2, 3)
    assert (pool.cities, pool.prefixes, pool.pool_key) == (("Wuhan", "Chengdu"), ("170", "171"), "FC200000000000002")
    assert config.aliyun == (
        # an account without its own pool key owns the pool's numbers
        AliyunCredentials("team-a", "sa", "FC200000000000002", "http://127.0.0.1:9001/aliyun"),
        AliyunCredentials("team-b", "sb", "FC300000000000003", None),
    )
    assert config.tencent == (TencentCredentials("tid", "tkey", "app-1"),)
    numbers = pool.build()
    assert len(numbers) == 2 * (2 + 3) and {n.x[:3] for n in numbers} <= {"170", "171"}
    assert {n.city for n in numbers} == {"Wuhan", "Chengdu"}


def test_a_credential_row_keeps_the_default_for_what_it_leaves_out():
    config = parse('[[tencent.credentials]]\nsecret_id = "only-the-id"\n')
    assert config.tencent == (TencentCredentials(secret_id="only-the-id"),)
    assert config.aliyun == ProviderConfig().aliyun  # no aliyun table: the defaults stay


@pytest.mark.parametrize(
    "text, named",
    [
        ("sead = 1", "'sead'"),
        ("[pool]\nper_cty = 1", "pool.'per_cty'"),
        ('[[aliyun.credentials]]\nacces_key_id = "k"', "aliyun.credentials[0].'acces_key_id'"),
        ('[[tencent.credentials]]\nsecret_id = "a"\n[[tencent.credentials]]\nsecretkey = "k"',
         "tencent.credentials[1].'secretkey'"),
        ('[aliyun]\nkeys = []', "aliyun.'keys'"),
    ],
)
def test_an_unknown_key_is_refused_by_name(text, named):
    with pytest.raises(ConfigFileError, match="unknown key") as refused:
        parse(text)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('seed = "7"', "seed must be an integer"),
        ("seed = true", "seed must be an integer"),
        ("port = 70000", "port must be 0..65535"),
        ("request_deadline = 0", "request_deadline must be a positive number of seconds"),
        ('request_deadline = "30"', "request_deadline must be a positive number of seconds"),
        ("host = ''", "host must be a non-empty string"),
        ('webhook_url = "ftp://x"', "webhook_url must be an http:// or https:// URL"),
        ("pool = 3", "pool must be a table"),
        ("[pool]\nper_city = -1", "pool.per_city must be 0..100000"),
        ("[pool]\ncities = []", "pool.cities must not be empty"),
        ('[pool]\ncities = ["A", "A"]', "'A' appears twice"),
        ('[pool]\nprefixes = ["99"]', "pool.prefixes: '99' cannot start"),
        ('[pool]\nprefixes = ["1380000000"]\nper_city = 10\ncities = ["A", "B"]', "give only 10 distinct numbers"),
        ("[aliyun]\ncredentials = 1", "aliyun.credentials must be an array of tables"),
        ('[[aliyun.credentials]]\nreport_url = "nowhere"', "aliyun.credentials[0].report_url must be an http"),
        ('[[aliyun.credentials]]\naccess_key_id = "k"\n[[aliyun.credentials]]\naccess_key_id = "k"',
         "access_key_id 'k' appears twice"),
        ('[[tencent.credentials]]\nsecret_id = "s"\n[[tencent.credentials]]\nsecret_id = "s"', "secret_id 's' appears twice"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(text, message):
    with pytest.raises(ConfigFileError) as refused:
        parse(text)
    assert message in str(refused.value)


def test_a_wrongly_typed_secret_is_not_echoed():
    with pytest.raises(ConfigFileError) as refused:
        parse("[[aliyun.credentials]]\naccess_key_secret = 918273645")
    assert "access_key_secret must be a non-empty string, got int" in str(refused.value)
    assert "918273645" not in str(refused.value)


def test_load_names_the_file_and_refuses_broken_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1\n")
    with pytest.raises(ConfigFileError, match=f"{bad}: not valid TOML"):
        load_provider_config(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigFileError, match=f"{unknown}: unknown key 'colour'"):
        load_provider_config(unknown)


def test_the_documented_example_file_loads():
    config = load_provider_config(EXAMPLE)
    assert config.aliyun and config.tencent and config.aliyun != ProviderConfig().aliyun
