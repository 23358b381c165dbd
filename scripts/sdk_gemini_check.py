"""Drives the gateway's Gemini API with the official `google-genai` Python SDK: generate,
stream, token counting, the model list, and the SDK's parsing of the gateway's errors, on the
`v1beta` prefix and on `v1`.

Usage: python3 scripts/sdk_gemini_check.py BASE_URL API_KEY MODEL TOOL_MODEL
(BASE_URL like http://127.0.0.1:3000; MODEL and TOOL_MODEL are served by one channel, of any
type, to the mock upstream; TOOL_MODEL calls a tool when offered one.) The API test suite runs
it against a live app (tests/api/sdk.rs), for each channel type.
"""
import sys

from google import genai
from google.genai import errors, types


WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The weather in a city.",
            parameters=types.Schema(
                type="OBJECT", properties={"city": types.Schema(type="STRING")}
            ),
        )
    ]
)


def tool_round_trip(client: genai.Client, model: str) -> None:
    """Function calling, streamed and not, then the function's response sent back."""
    config = types.GenerateContentConfig(
        tools=[WEATHER],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    answer = client.models.generate_content(model=model, contents=[question], config=config)
    call = answer.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "Paris"}, answer

    chunks = list(
        client.models.generate_content_stream(model=model, contents=[question], config=config)
    )
    streamed = [c for chunk in chunks for c in (chunk.function_calls or [])]
    assert [c.args for c in streamed] == [{"city": "Paris"}], chunks

    history = [
        question,
        answer.candidates[0].content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(
                    name="get_weather", response={"content": "Sunny"}
                )
            ],
        ),
    ]
    final = client.models.generate_content(model=model, contents=history, config=config)
    assert final.text and not final.function_calls, final


def main(base_url: str, key: str, model: str, tool_model: str) -> None:
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

        tool_round_trip(client, tool_model)

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
    main(*sys.argv[1:5])
