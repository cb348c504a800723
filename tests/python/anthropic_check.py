"""The official Anthropic Python SDK as a real client of byok-server's /api/v1/messages.

Run by tests/tests/sdks.rs: `python anthropic_check.py BASE_URL API_KEY PLAN` where PLAN is
`[{"provider", "model", "ops": [...]}, ...]`. Every op of every entry runs in order, the
provider chosen with `x-byok-provider`; one JSON line comes back: {provider: {op: result}}.

Ops: `text` / `stream` (a plain answer, `messages.create` / `messages.stream` with
`get_final_message`), `tool` / `stream_tool` (a `get_weather` tool), `thinking` /
`stream_thinking` (extended thinking on), `error` (an upstream failure as the SDK's
exception), `stream_cut` (a stream that fails mid-way, as the SDK's exception). A streamed op also rebuilds each tool's input from its own `input_json` deltas,
to compare with what the SDK's snapshot and the non-streamed answer hold.
"""
import json
import sys

import warnings

import anthropic

warnings.simplefilter("ignore")  # model deprecation notices of the SDK

base, key, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

TOOLS = [{
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object",
                     "properties": {"location": {"type": "string"}, "unit": {"type": "string"},
                                    "note": {"type": "string"}},
                     "required": ["location"]},
}]
THINKING = {"type": "enabled", "budget_tokens": 1024}
HELLO = [{"role": "user", "content": "Hello"}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris and in Tokyo?"}]


def blocks(message):
    """The message's content blocks, each as the parts the test compares."""
    out = {"text": "", "calls": [], "thinking": [], "signatures": [], "redacted": 0}
    for b in message.content:
        if b.type == "text":
            out["text"] += b.text
        elif b.type == "tool_use":
            out["calls"].append({"id": b.id, "name": b.name, "input": b.input})
        elif b.type == "thinking":
            out["thinking"].append(b.thinking)
            out["signatures"].append(b.signature)
        elif b.type == "redacted_thinking":
            out["redacted"] += 1
    return out


def summary(message):
    out = blocks(message)
    out.update({
        "id": message.id,
        "model": message.model,
        "stop": message.stop_reason,
        "input_tokens": message.usage.input_tokens,
        "output_tokens": message.usage.output_tokens,
    })
    return out


def parse(text):
    """Tool input JSON text as an object ({} for none), or the text itself when it is not JSON."""
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {"_unparsable": text}


def run_stream(client, model, **kw):
    """messages.stream: the SDK's own events, their texts and deltas, and the final message."""
    kinds, text, thinking, signature, partial = [], "", "", "", {}
    with client.messages.stream(model=model, max_tokens=2048, **kw) as stream:
        for event in stream:
            if event.type not in kinds:
                kinds.append(event.type)
            if event.type == "text":
                text += event.text
            elif event.type == "thinking":
                thinking += event.thinking
            elif event.type == "signature":
                signature += event.signature
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial.setdefault(event.index, "")
                partial[event.index] += event.delta.partial_json
        final = stream.get_final_message()
    out = summary(final)
    out.update({
        "events": kinds,
        "streamed_text": text,
        "streamed_thinking": thinking,
        "streamed_signature": signature,
        # Each tool's input as rebuilt from its deltas alone, in block order.
        "rebuilt_inputs": [parse(partial[i]) for i in sorted(partial)],
    })
    return out


def run(client, model, op):
    if op == "text":
        return summary(client.messages.create(model=model, max_tokens=256, messages=HELLO))
    if op == "stream":
        return run_stream(client, model, messages=HELLO)
    if op == "tool":
        return summary(client.messages.create(model=model, max_tokens=512, messages=WEATHER,
                                              tools=TOOLS))
    if op == "stream_tool":
        return run_stream(client, model, messages=WEATHER, tools=TOOLS)
    if op == "thinking":
        return summary(client.messages.create(model=model, max_tokens=2048, messages=WEATHER,
                                              thinking=THINKING, tools=TOOLS))
    if op == "stream_thinking":
        return run_stream(client, model, messages=WEATHER, thinking=THINKING, tools=TOOLS)
    if op == "stream_cut":
        try:
            out = run_stream(client, model, messages=HELLO)
            return {"error": "none", "stop": out["stop"]}
        except anthropic.APIStatusError as e:
            body = e.body if isinstance(e.body, dict) else {}
            return {"error": type(e).__name__, "type": (body.get("error") or {}).get("type"),
                    "message": str(e)}
    if op == "error":
        try:
            client.messages.create(model=model, max_tokens=64, messages=HELLO)
            return {"error": "none"}
        except anthropic.APIStatusError as e:
            body = e.body if isinstance(e.body, dict) else {}
            return {"error": type(e).__name__, "status": e.status_code,
                    "type": body.get("error", {}).get("type") if isinstance(body.get("error"), dict)
                    else None}
    raise SystemExit(f"unknown op {op}")


results = {}
for entry in plan:
    client = anthropic.Anthropic(base_url=base + "/api", api_key=key, max_retries=0, timeout=20,
                                 default_headers={"x-byok-provider": entry["provider"]})
    results[entry["provider"]] = {op: run(client, entry["model"], op) for op in entry["ops"]}
print(json.dumps(results))
