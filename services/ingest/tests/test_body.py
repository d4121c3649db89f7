from __future__ import annotations

import pytest

from herald.ingest.body import BadRequest, parse_json_object


def test_lone_surrogates_are_replaced_everywhere() -> None:
    doc = parse_json_object(b'{"a\\ud800": ["x\\uDC00", {"k": "\\ud83d\\ude00 ok"}]}')
    assert doc == {"a\ufffd": ["x\ufffd", {"k": "\U0001f600 ok"}]}


def test_deep_json_is_a_bad_request_not_a_crash() -> None:
    with pytest.raises(BadRequest):
        parse_json_object(b"[" * 100_000 + b"]" * 100_000)
    deep = b'{"a":' * 900 + b'"\\ud800"' + b"}" * 900
    doc = parse_json_object(deep)  # deep, but within what the decoder takes: walked iteratively
    for _ in range(900):
        doc = doc["a"]
    assert doc == "\ufffd"


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"1", b"null", b"\xff", b"{"])
def test_not_an_object(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_json_object(body)
