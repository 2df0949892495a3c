"""The official Anthropic Python SDK against the gateway's /v1/messages: what a real
Anthropic client accepts, whichever provider serves the request.

Usage: anthropic_client_check.py BASE_URL MODEL EXPECTED_REGION GATEWAY_KEY
Exits non-zero (with the reason) if the SDK rejects a response or a check fails.
"""
import sys

import anthropic

base_url, model, region, key = sys.argv[1:5]
client = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0)

raw = client.messages.with_raw_response.create(
    model=model, max_tokens=64, messages=[{"role": "user", "content": "hello"}]
)
message = raw.parse()
assert raw.headers.get("x-llm-region") == region, raw.headers
assert message.type == "message" and message.role == "assistant", message
text = "".join(b.text for b in message.content if b.type == "text")
assert text == f"hello from {region}", message
assert message.stop_reason == "end_turn", message
assert message.usage.output_tokens > 0, message

pieces = []
with client.messages.stream(
    model=model, max_tokens=64, system="be brief", messages=[{"role": "user", "content": "hello"}]
) as stream:
    for piece in stream.text_stream:
        pieces.append(piece)
    final = stream.get_final_message()
assert "".join(pieces) == f"hello from {region}", pieces
assert final.stop_reason == "end_turn", final

try:
    client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    raise SystemExit("unknown model was accepted")
except anthropic.BadRequestError as e:
    assert e.body["type"] == "error", e.body

try:
    anthropic.Anthropic(base_url=base_url, api_key="wrong-key", max_retries=0).messages.create(
        model=model, max_tokens=8, messages=[{"role": "user", "content": "x"}]
    )
    raise SystemExit("a wrong key was accepted")
except anthropic.AuthenticationError as e:
    assert e.body["type"] == "error", e.body
print("anthropic SDK: all checks passed")
