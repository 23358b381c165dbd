"""Drives the gateway with the official `openai` Python SDK: every OpenAI endpoint the gateway
relays, streaming included, and the SDK's parsing of the gateway's errors.

Usage: python3 scripts/sdk_check.py BASE_URL API_KEY [MODEL ...]
(BASE_URL like http://127.0.0.1:3000/v1; each MODEL given is served by a channel of another
dialect, Anthropic or Gemini: chat and Responses on it are converted.)
The API test suite runs it against a live app and a mock upstream (tests/api/sdk.rs).
"""
import io
import sys

import openai


def main(base_url: str, key: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)

    models = [m.id for m in client.models.list()]
    assert "gpt-4o" in models, models
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"

    chat = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "你好"}], max_tokens=20
    )
    assert chat.choices[0].message.content == "Hello", chat
    assert chat.usage.completion_tokens == 12, chat.usage

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("w0 w1"), text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12

    # The Responses API (what the Codex CLI speaks), with history items and `store: false`.
    resp = client.responses.create(
        model="gpt-4o",
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "hi"},
        ],
        store=False,
        max_output_tokens=64,
    )
    assert resp.output_text == "Hello", resp
    assert resp.usage.output_tokens == 12, resp.usage
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas.startswith("w0 w1"), deltas
    assert events[-1].response.usage.output_tokens == 12

    for converted in sys.argv[3:]:
        answer = client.chat.completions.create(
            model=converted, messages=[{"role": "user", "content": "hi"}], max_tokens=64
        )
        assert answer.choices[0].message.content == "Hello", (converted, answer)
        assert answer.usage.completion_tokens == 12, answer.usage
        streamed = list(
            client.chat.completions.create(
                model=converted, messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert text.startswith("w0 w1"), (converted, text)
        assert streamed[-1].usage.completion_tokens == 12, streamed[-1]

        # Responses on a channel of another dialect: converted both ways.
        resp = client.responses.create(
            model=converted, instructions="Be brief.", input="hi", max_output_tokens=64
        )
        assert resp.output_text == "Hello", (converted, resp)
        assert resp.usage.output_tokens == 12, resp.usage
        events = list(client.responses.create(model=converted, input="hi", stream=True))
        kinds = [e.type for e in events]
        assert kinds[0] == "response.created", kinds
        assert kinds[-1] == "response.completed", kinds
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert deltas.startswith("w0 w1"), (converted, deltas)
        assert events[-1].response.output_text == deltas, events[-1]
        assert events[-1].response.usage.output_tokens == 12

    done = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="poem")
    assert done.choices[0].text == "poem"

    emb = client.embeddings.create(model="text-embedding-3-small", input="x")
    assert emb.data[0].embedding == [0.1, 0.2, 0.3]

    mod = client.moderations.create(input="x")
    assert mod.results[0].flagged is False

    img = client.images.generate(model="dall-e-3", prompt="cat", n=1)
    assert img.data[0].url == "https://example.com/image.png"
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 2048)
    png.name = "a.png"
    edit = client.images.edit(model="dall-e-2", image=png, prompt="hat")
    assert edit.data[0].url
    png.seek(0)
    var = client.images.create_variation(model="dall-e-2", image=png)
    assert var.data[0].url

    audio = io.BytesIO(b"ID3" + b"0" * 4096)
    audio.name = "a.mp3"
    tr = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert tr.text == "transcribed text", tr
    audio.seek(0)
    tl = client.audio.translations.create(model="whisper-1", file=audio)
    assert tl.text == "transcribed text", tl
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input="hello")
    assert len(speech.read()) > 1000

    try:
        client.chat.completions.create(model="no-such-model", messages=[])
        raise AssertionError("an unknown model must fail")
    except openai.NotFoundError as e:
        assert e.code == "model_not_found", e
        assert "request id" in e.message, e.message

    bad = openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("a wrong key must fail")
    except openai.AuthenticationError as e:
        assert e.code == "invalid_api_key", e.code
    print("openai SDK check passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
