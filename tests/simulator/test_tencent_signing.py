"""The pure signing functions agree with the SDK's own signer, and the nonce memory forgets only stale nonces."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from tencentcloud.common.sign import Sign

from simulator.dialects.tencent import signing
from simulator.dialects.tencent.auth import NonceMemory

text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=40)


@given(key=text, date=st.dates().map(str), message=text)
def test_tc3_signature_equals_the_sdks(key: str, date: str, message: str) -> None:
    assert signing.tc3_signature(key, date, "npp", message) == Sign.sign_tc3(key, date, "npp", message)


@given(key=text, message=text, method=st.sampled_from(["HmacSHA1", "HmacSHA256"]))
def test_legacy_signature_equals_the_sdks(key: str, message: str, method: str) -> None:
    assert signing.legacy_signature(key, message, method) == Sign.sign(key, message, method)


def test_tc3_canonical_request_layout() -> None:
    body = b'{"Dst": "008613800000001"}'
    canonical = signing.tc3_canonical_request(
        "POST", "", {"content-type": "application/json", "host": "127.0.0.1:8090"}, ("content-type", "host"), body
    )
    assert canonical == (
        "POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1:8090\n\ncontent-type;host\n"
        + hashlib.sha256(body).hexdigest()
    )


def test_legacy_string_to_sign_sorts_raw_values_and_dots_underscores() -> None:
    params = {"Nonce": "7", "Action": "DelVirtualNum", "AccreditList_0": "a b", "Signature": "ignored"}
    assert signing.legacy_string_to_sign("get", "h:1", params) == "GETh:1/?AccreditList.0=a b&Action=DelVirtualNum&Nonce=7"


def test_tc3_authorization_parses_back() -> None:
    header = signing.tc3_authorization("id", "key", 1767225600, "canonical")
    auth = signing.parse_tc3_authorization(header)
    assert (auth.secret_id, auth.date, auth.service, auth.signed_headers) == ("id", "2026-01-01", "npp", ("content-type", "host"))


def test_nonce_memory_refuses_reuse_until_the_window_passes() -> None:
    memory = NonceMemory()
    assert memory.remember("id", "1", forget_at=300, now=0)
    assert not memory.remember("id", "1", forget_at=310, now=10)
    assert memory.remember("other-id", "1", forget_at=310, now=10)  # nonces are per SecretId
    assert memory.remember("id", "1", forget_at=600, now=301)  # forgotten: a replay now fails the timestamp check
