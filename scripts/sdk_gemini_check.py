"""Drives the gateway's Gemini API with the official `google-genai` Python SDK: generate,
stream, token counting, the model list, and the SDK's parsing of the gateway's errors, on the
`v1beta` prefix and on `v1`.

Usage: python3 scripts/sdk_gemini_check.py BASE_URL API_KEY MODEL
(BASE_URL like http://127.0.0.1:3000; MODEL is served by a Gemini channel to the mock upstream.)
The API test suite runs it against a live app (tests/api/sdk.rs).
"""
import sys

from google import genai
from google.genai import errors, types


def main(base_url: str, key: str, model: str) -> None:
    for version in ["v1beta", "v1"]:
        client = genai.Client(
            api_key=key,
            http_options=types.HttpOptions(base_url=base_url, api_version=version),
        )
        answer = client.models.generate_content(
            model=model,
            contents="你好",
            config=types.GenerateContentConfig(
                system_instruction="Be brief.", max_output_tokens=64
            ),
        )
        assert answer.text == "Hello", answer
        assert answer.usage_metadata.candidates_token_count == 12, answer.usage_metadata

        chunks = list(client.models.generate_content_stream(model=model, contents="hi"))
        text = "".join(c.text or "" for c in chunks)
        assert text.startswith("w0 w1 "), text
        assert chunks[-1].usage_metadata.candidates_token_count == 12

        count = client.models.count_tokens(model=model, contents="Hello there")
        assert count.total_tokens > 0, count

        try:
            client.models.generate_content(model="no-such-model", contents="x")
            raise AssertionError("an unknown model must fail")
        except errors.ClientError as e:
            assert e.code == 404, e
            assert "request id" in e.message, e.message

    listed = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta")
    )
    names = [m.name for m in listed.models.list()]
    assert f"models/{model}" in names, names

    bad = genai.Client(api_key="sk-wrong", http_options=types.HttpOptions(base_url=base_url))
    try:
        bad.models.generate_content(model=model, contents="x")
        raise AssertionError("a wrong key must fail")
    except errors.ClientError as e:
        assert e.code == 401, e

    print("gemini sdk check: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
