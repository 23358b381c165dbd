"""Drives a realtime session through the gateway with the official `openai` Python SDK's
realtime client (`client.realtime.connect`, which needs the `websockets` package).

Usage: python3 scripts/sdk_realtime_check.py BASE_URL API_KEY MODEL
(BASE_URL like http://127.0.0.1:3000/v1.) The API test suite runs it against a live app and
the mock upstream's realtime socket (tests/api/realtime.rs) and checks the bill.
"""
import sys

import openai


def main(base_url: str, key: str, model: str) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    with client.realtime.connect(model=model) as connection:
        created = connection.recv()
        assert created.type == "session.created", created
        for _ in range(2):
            connection.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hello"}],
                }
            )
            connection.response.create()
            text = ""
            for event in connection:
                if event.type == "response.output_text.delta":
                    text += event.delta
                if event.type == "response.done":
                    assert event.response.usage.output_tokens == 30, event
                    break
            assert text == "Hello", text

    # A key the gateway does not know is refused before the upgrade.
    bad = openai.OpenAI(base_url=base_url, api_key="sk-unknown", max_retries=0)
    try:
        with bad.realtime.connect(model=model) as connection:
            connection.recv()
        raise AssertionError("an unknown key opened a session")
    except AssertionError:
        raise
    except Exception as e:  # the websockets library's handshake error
        assert "401" in str(e), e
    print("realtime ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
