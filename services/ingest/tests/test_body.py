from __future__ import annotations

from pathlib import Path

import pytest

from herald.ingest.alertmanager import WebhookMessage
from herald.ingest.body import BadRequest, alertmanager_message, parse_json_object


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


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "alerts"


@pytest.mark.parametrize("name", ["crashloop-firing.json", "crashloop-resolved.json"])
def test_the_one_pass_parse_makes_what_the_exact_path_makes(name: str) -> None:
    body = (EXAMPLES / name).read_bytes()
    fast = alertmanager_message(body)
    assert fast is not None
    assert fast == WebhookMessage.model_validate(parse_json_object(body))


@pytest.mark.parametrize(
    "body",
    [
        (EXAMPLES / "grafana-firing.json").read_bytes(),
        b'{"alerts": [], "\\u006frgId": 1}',  # Grafana's key, escaped
        b'{"alerts": [], "x": "\\u006F\\u0072gI\\u0064"}',  # the text anywhere: exact path
        b'{"alerts": [], "receiver": "\\ud800"}',  # a lone surrogate: replaced by the exact path
        b'{"alerts": [], "receiver": "\\uDFFF"}',
        b'{"alerts": "nope"}',  # invalid: the exact path says why
        b"[]",
        b"\xef\xbb\xbf{}",
        b"not json",
    ],
)
def test_the_one_pass_parse_leaves_every_doubtful_body_to_the_exact_path(body: bytes) -> None:
    assert alertmanager_message(body) is None


def test_the_one_pass_parse_takes_escapes_that_are_no_surrogates() -> None:
    body = b'{"alerts": [], "receiver": "a\\u0026b \\ud83d\\ude00"}'
    assert alertmanager_message(body) is None  # a surrogate pair: left to the exact path
    fast = alertmanager_message(b'{"alerts": [], "receiver": "a\\u0026b"}')
    assert fast is not None
    assert fast.receiver == "a&b"
