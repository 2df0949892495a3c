"""The official OpenAI Python SDK against the gateway: what a real client accepts.

Usage: openai_client_check.py BASE_URL MODEL EXPECTED_REGION [GATEWAY_KEY]
Exits non-zero (with the reason) if the SDK rejects a response or a check fails.
"""
import sys

import openai

base_url, model, region = sys.argv[1], sys.argv[2], sys.argv[3]
key = sys.argv[4] if len(sys.argv) > 4 else "unused-by-the-gateway"
client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)

# Non-streaming: the SDK parses the body into its typed ChatCompletion.
raw = client.chat.completions.with_raw_response.create(
    model=model, messages=[{"role": "user", "content": "hello"}]
)
completion = raw.parse()
assert raw.headers.get("x-llm-region") == region, raw.headers
assert completion.choices[0].message.content == f"hello from {region}", completion
assert completion.choices[0].finish_reason == "stop", completion
assert completion.usage is not None and completion.usage.total_tokens > 0, completion

# Streaming: every SSE chunk parses; the text arrives in pieces.
pieces = []
with client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "hello"}],
    stream=True,
    stream_options={"include_usage": True},
) as stream:
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
assert "".join(pieces) == f"hello from {region}", pieces
assert len(pieces) > 1, pieces
assert usage is not None and usage.completion_tokens > 0, usage

# Errors: the SDK maps our error bodies to its exception types and codes.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("unknown model was accepted")
except openai.BadRequestError as e:
    assert e.code == "model_not_found", e.body

try:
    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}], extra_headers={"x-llm-residency": "mars"}
    )
    raise SystemExit("unknown zone was accepted")
except openai.BadRequestError as e:
    assert e.code == "invalid_residency", e.body

models = client.models.list()
assert model in [m.id for m in models.data], models
print("openai SDK: all checks passed")
