"""The request path's shortcuts give exactly what the general code they skip would give.

Timestamps, route resolution and signature canonicalisation each have a fast path for the common case
(a second formatted once, a route found in a dict, a value with nothing to encode) and fall back to the
general code otherwise; clients see the same strings either way. Derandomized: the same cases every run.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.clock import iso
from simulator.dialects.aliyun import signing as aliyun_signing
from simulator.dialects.aliyun import wire as aliyun_wire
from simulator.dialects.native import routes
from simulator.dialects.tencent import signing as tencent_signing

PROPERTY = settings(derandomize=True, max_examples=400, deadline=None, database=None)
METHODS = st.sampled_from(("GET", "POST", "PATCH", "DELETE", "PUT"))


def _datetime_iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@PROPERTY
@given(st.one_of(
    st.floats(min_value=-3e10, max_value=2.5e11, allow_nan=False),
    # around a whole millisecond, where rounding the microseconds decides the digit shown
    st.builds(lambda ms, nudge: 1767225600 + ms / 1000 + nudge, st.integers(0, 10**9),
              st.sampled_from((0.0, 5e-7, -5e-7, 4.999e-7, 0.0009995))),
))
def test_iso_is_what_datetime_prints(at: float) -> None:
    assert iso(at) == _datetime_iso(at)


def test_iso_of_consecutive_times_in_different_seconds() -> None:
    """The second cached for one call is not reused for the next, whatever order times come in."""
    times = [1767225600.999, 1767225601.0, 1767225600.5, 0.0, -0.25, 1767225601.0004]
    assert [iso(t) for t in times] == [_datetime_iso(t) for t in times]


@PROPERTY
@given(METHODS, st.one_of(
    st.sampled_from([r.path for r in routes.ROUTES] + ["/v1/bindings/bnd_00000001", "/v1/calls/call_1",
                                                        "/v1/bindings/a/b", "/v1/bindings/", "/v1/bindings/x\n"]),
    st.text(alphabet="/v1bindgscalum{}\n_.%", max_size=20).map(lambda tail: "/v1/" + tail),
))
def test_native_routes_resolve_as_their_patterns_do(method: str, path: str) -> None:
    assert routes.resolve(method, path) == routes._resolve_by_pattern(method, path)


@PROPERTY
@given(st.text(alphabet=st.sampled_from(list("aZ09_.~-+ %/&=é中\n*")), max_size=12))
def test_aliyun_percent_encoding_is_rfc3986(value: str) -> None:
    assert aliyun_signing.percent_encode(value) == quote(value, safe="~", encoding="utf-8")


def _outcome(parse, value):
    try:
        return parse(value)
    except ValueError:
        return ValueError


@PROPERTY
@given(st.sampled_from(("2026", "0001", "9999", "0000", "2024")),
       st.lists(st.integers(0, 99).map(lambda n: f"{n:02d}"), min_size=5, max_size=5))
def test_aliyun_times_parse_as_strptime_does(year: str, parts: list[str]) -> None:
    month, day, hour, minute, second = parts
    stamp = f"{year}-{month}-{day}T{hour}:{minute}:{second}Z"
    assert _outcome(aliyun_signing.parse_timestamp, stamp) == _outcome(
        lambda v: datetime.strptime(v, aliyun_signing.TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc).timestamp(), stamp)
    local = f"{year}-{month}-{day} {hour}:{minute}:{second}"
    assert _outcome(lambda v: aliyun_wire.parse_time(v, "Expiration"), local) == _outcome(
        lambda v: datetime.strptime(v, aliyun_wire.TIME_FORMAT).replace(tzinfo=aliyun_wire.BEIJING).timestamp(), local)


def test_aliyun_lenient_times_still_parse() -> None:
    """Forms strptime accepts beyond the SDKs' own (one-digit fields) still do."""
    assert aliyun_signing.parse_timestamp("2026-1-2T3:4:5Z") == aliyun_signing.parse_timestamp("2026-01-02T03:04:05Z")


@PROPERTY
@given(st.integers(-10**10, 10**10))
def test_tencent_credential_date_is_the_utc_day(timestamp: int) -> None:
    expected = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    assert tencent_signing.utc_date(timestamp) == expected
