"""The real server under hostile or odd bodies: every answer is JSON and none is a 500; a body
over the limit is refused while it arrives, Content-Length or not."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.serve.conftest import ThreadServer, tiny_artifact

MAX_BODY = 300_000


@pytest.fixture(scope="module")
def server(rel_bert, tmp_path_factory):
    from polyhead.export.runtime import load_predictor
    from polyhead.serve.app import create_app, describe
    from polyhead.serve.settings import ServeSettings

    artifact = tiny_artifact(rel_bert, tmp_path_factory.mktemp("abuse") / "model")
    predictor = load_predictor(str(artifact), batch_size=4)
    limits = ServeSettings(max_texts=8, max_text_chars=3000, max_body_bytes=MAX_BODY, max_batch=4)
    app = create_app(predictor, limits, describe(predictor, str(artifact), "torch", limits))
    with ThreadServer(app) as srv:
        yield srv


def post(server, content: bytes, content_type: str | None = "application/json"):
    headers = {"content-type": content_type} if content_type else {}
    return httpx.post(f"{server.url}/predict", content=content, headers=headers, timeout=30)


def nested(opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + b"1" + closing * depth


BAD_BODIES = {
    # text that JSON can spell but is not Unicode text
    "lone high surrogate": (b'{"texts": ["\\ud800 play"]}', "texts[0]: lone surrogate U+D800"),
    "lone low surrogate, 2nd text": (
        b'{"texts": ["ok", "a \\udc00"]}',
        "texts[1]: lone surrogate U+DC00 at character 2",
    ),
    "surrogate as a field name": (b'{"texts": ["a"], "\\ud800": 1}', ""),
    # bytes that are not UTF-8
    "invalid UTF-8": (b'{"texts": ["\xff\xfe play"]}', "body is not UTF-8: byte 0xff at 12"),
    "overlong UTF-8": (b'{"texts": ["\xc0\xaf"]}', "not UTF-8"),
    "UTF-8-encoded surrogate": (b'{"texts": ["\xed\xa0\x80"]}', "not UTF-8"),
    "UTF-16 body": ('{"texts": ["a"]}'.encode("utf-16"), "not UTF-8"),
    "BOM before JSON": (b'\xef\xbb\xbf{"texts": ["a"]}', "BOM"),
    # nesting that exhausts a recursive parser
    "100k [": (b"[" * 100_000, "nested too deeply"),
    "50k nested lists as texts": (b'{"texts": ' + nested(b"[", b"]", 50_000) + b"}", "nested"),
    "30k nested objects": (nested(b'{"a": ', b"}", 30_000), "nested too deeply"),
    # numbers Python's json takes but JSON has not
    "NaN": (b'{"texts": ["a"], "embeddings": NaN}', "NaN is not a JSON number"),
    "-Infinity": (b'{"texts": [-Infinity]}', "-Infinity is not a JSON number"),
    "1e999": (b'{"texts": ["a"], "embeddings": 1e999}', "valid boolean"),
    "5000-digit integer": (b'{"texts": [' + b"9" * 5000 + b"]}", "invalid JSON"),
    # malformed JSON
    "raw control character": (b'{"texts": ["a\x00b"]}', "invalid JSON"),
    "trailing garbage": (b'{"texts": ["a"]} x', "invalid JSON"),
    "empty body": (b"", "invalid JSON"),
    "whitespace body": (b"  \n ", "invalid JSON"),
    # wrong types and shapes
    "texts a dict": (b'{"texts": {"a": 1}}', "valid list"),
    "texts null": (b'{"texts": null}', "valid list"),
    "texts of lists": (b'{"texts": [["a"]]}', "valid string"),
    "texts of booleans": (b'{"texts": [true]}', "valid string"),
    "embeddings 1": (b'{"texts": ["a"], "embeddings": 1}', "valid boolean"),
    "top-level array": (b'["a"]', "valid dictionary"),
    "top-level number": (b"3", "valid dictionary"),
    "top-level null": (b"null", "valid dictionary"),
}


@pytest.mark.parametrize("content, needle", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_bodies_are_422_json(server, content, needle):
    res = post(server, content)
    assert res.status_code == 422, res.text
    assert res.headers["content-type"] == "application/json"
    errors = res.json()["detail"]
    assert isinstance(errors, list) and errors[0]["loc"][0] == "body"
    assert needle in errors[0]["msg"]
    assert "input" not in errors[0]  # the body is never echoed back


ODD_TEXTS = {
    "NUL": "a\u0000b",
    "controls only": "\t\r\x01\x7f",
    "zero-width": "\u200b\u200d\ufeff",
    "combining marks": "e\u0301\u0301\u0301 cafe\u0301",
    "right-to-left": "مرحبا بالعالم",
    "emoji": "😀 🎉👩‍👩‍👧",
    "CJK without spaces": "東京タワーに行きたいです",
    "highest code point": "\U0010ffff \ufffd",
    "line separators": "x\u2028y\u2029z\x85",
    "one long word": "a" * 3000,
    "punctuation": ".,;!?" * 600,
    "space": " ",
}


@pytest.mark.parametrize("text", ODD_TEXTS.values(), ids=ODD_TEXTS.keys())
def test_odd_but_valid_texts_are_answered(server, text):
    res = post(server, json.dumps({"texts": [text, "ok"], "embeddings": True}).encode())
    assert res.status_code == 200, res.text
    got = res.json()["predictions"]
    assert [g["text"] for g in got] == [text, "ok"]
    assert all(len(g["embedding"]) == 32 for g in got)


def test_wrong_content_type_is_415_json(server):
    res = post(server, b'{"texts": ["a"]}', content_type="application/x-www-form-urlencoded")
    assert res.status_code == 415
    assert "send application/json" in res.json()["detail"]
    assert post(server, b'{"texts": ["a"]}', content_type=None).status_code == 200


def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(server):
    """No Content-Length: the limit is counted as chunks arrive. The body below never ends
    (no final 0-chunk), so only a server that stops reading at the limit can answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 50_001
        for _ in range(MAX_BODY // len(chunk) + 1):  # just past the limit, then nothing
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            data = sock.recv(65536)  # times out (fails) if the server waits for more body
            if not data:
                break
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["detail"] == f"request body of 300006+ bytes; at most {MAX_BODY}"


def test_a_chunked_body_under_the_limit_is_read(server):
    body = json.dumps({"texts": ["wake me up at five am"] * 4}).encode()
    pieces = (body[i : i + 7] for i in range(0, len(body), 7))  # no Content-Length: chunked
    headers = {"content-type": "application/json"}
    res = httpx.post(f"{server.url}/predict", content=pieces, headers=headers, timeout=30)
    assert res.status_code == 200
    assert len(res.json()["predictions"]) == 4


_TEXT = st.text(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_BODIES = st.one_of(
    st.binary(max_size=64),
    st.builds(json.dumps, st.fixed_dictionaries({"texts": st.lists(_TEXT, max_size=3)})),
    st.builds(json.dumps, st.dictionaries(st.sampled_from(["texts", "embeddings", "x"]), _JSON)),
    st.builds(json.dumps, _JSON),
)


@settings(max_examples=50, deadline=None)
@given(body=_BODIES)
def test_no_body_gets_a_500(server, body):
    res = post(server, body.encode() if isinstance(body, str) else body)
    assert res.status_code in (200, 413, 422), res.text
    assert res.headers["content-type"] == "application/json"
