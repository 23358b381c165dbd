"""Drives the gateway's Anthropic Messages API with the official `anthropic` Python SDK:
create, stream, token counting, and the SDK's parsing of the gateway's errors.

Usage: python3 scripts/sdk_anthropic_check.py BASE_URL API_KEY MODEL TOOL_MODEL
(BASE_URL like http://127.0.0.1:3000; MODEL and TOOL_MODEL are served by one channel, of any
type, to the mock upstream; TOOL_MODEL calls a tool when offered one.) The API test suite runs
it against a live app (tests/api/sdk.rs), for each channel type.
"""
import sys

import anthropic


WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def tool_round_trip(client: anthropic.Anthropic, model: str) -> None:
    """A tool call, streamed and not, then its result sent back."""
    question = [{"role": "user", "content": "Weather in Paris?"}]
    message = client.messages.create(
        model=model, max_tokens=64, tools=[WEATHER], messages=question
    )
    assert message.stop_reason == "tool_use", message
    call = next(b for b in message.content if b.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"}, call

    with client.messages.stream(
        model=model, max_tokens=64, tools=[WEATHER], messages=question
    ) as stream:
        final = stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.input == {"city": "Paris"}, final

    answer = client.messages.create(
        model=model,
        max_tokens=64,
        tools=[WEATHER],
        messages=question
        + [
            {"role": "assistant", "content": [call.model_dump()]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}],
            },
        ],
    )
    assert answer.stop_reason == "end_turn" and answer.content[0].text, answer


def main(base_url: str, key: str, model: str, tool_model: str) -> None:
    client = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0)

    message = client.messages.create(
        model=model,
        max_tokens=64,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "你好"}],
    )
    assert message.content[0].text == "Hello", message
    assert message.stop_reason == "end_turn", message
    assert message.usage.cache_read_input_tokens == 6, message.usage

    with client.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("w0 w1 "), text
    assert final.usage.output_tokens == 12, final.usage
    assert final.stop_reason == "end_turn", final

    tool_round_trip(client, tool_model)

    count = client.messages.count_tokens(
        model=model, messages=[{"role": "user", "content": "Hello there"}]
    )
    assert count.input_tokens > 0, count

    try:
        client.messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
        raise AssertionError("an unknown model must fail")
    except anthropic.NotFoundError as e:
        assert "request id" in e.message, e.message

    bad = anthropic.Anthropic(base_url=base_url, api_key="sk-wrong", max_retries=0)
    try:
        bad.messages.create(model=model, max_tokens=5, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a wrong key must fail")
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401, e

    print("anthropic sdk check: ok")


if __name__ == "__main__":
    main(*sys.argv[1:5])
