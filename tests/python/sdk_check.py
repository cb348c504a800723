"""The official OpenAI Python SDK as a real client of byok-server.

Run by tests/tests/openai_sdk.rs: `python sdk_check.py STEP BASE_URL API_KEY [PROVIDER]`
(PROVIDER, when given, goes as `x-byok-provider`). Each step prints one JSON line the Rust
test asserts on.
"""
import json
import sys

import openai

step, base, key = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {"x-byok-provider": sys.argv[4]} if len(sys.argv) > 4 else None
client = openai.OpenAI(base_url=base + "/api/v1", api_key=key, max_retries=0, timeout=20,
                       default_headers=headers)
messages = [{"role": "user", "content": "Hello"}]
out = {}
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"},
                                     "note": {"type": "string"}}, "required": ["location"]}}]


def response_summary(r):
    """What a Responses object holds: its text, function calls, reasoning and usage."""
    calls, reasoning = [], []
    for item in r.output:
        if item.type == "function_call":
            calls.append({"name": item.name, "call_id": item.call_id,
                          "arguments": json.loads(item.arguments)})
        elif item.type == "reasoning":
            reasoning.extend(s.text for s in (item.summary or []))
            reasoning.extend(c.text for c in (getattr(item, "content", None) or []))
    return {"id": r.id, "status": r.status, "text": r.output_text, "calls": calls,
            "reasoning": reasoning, "input_tokens": r.usage.input_tokens,
            "output_tokens": r.usage.output_tokens, "model": r.model}


if step == "plain":
    r = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    out = {"content": r.choices[0].message.content, "finish": r.choices[0].finish_reason,
           "prompt_tokens": r.usage.prompt_tokens, "cached": r.usage.prompt_tokens_details.cached_tokens}
elif step == "stream":
    text, usage, chunks = "", None, 0
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                stream_options={"include_usage": True}):
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage.total_tokens
    out = {"content": text, "total_tokens": usage, "chunks": chunks}
elif step == "tools":
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}}}]
    with client.chat.completions.stream(model="gpt-4o-mini", messages=messages, tools=tools) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    out = {"name": call.function.name, "arguments": json.loads(call.function.arguments),
           "finish": final.choices[0].finish_reason}
elif step == "errors":
    def kind(fn):
        try:
            fn()
            return "no error"
        except openai.APIStatusError as e:
            return f"{type(e).__name__}:{e.status_code}"
    bad = openai.OpenAI(base_url=base + "/api/v1", api_key="byok_wrong", max_retries=0)
    out = {
        "unauthorized": kind(lambda: bad.chat.completions.create(model="gpt-4o-mini", messages=messages)),
        "bad_request": kind(lambda: client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                                                   extra_body={"api_base": "http://169.254.169.254/"})),
    }
elif step == "payment":
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        out = {"payment": "no error"}
    except openai.APIStatusError as e:
        out = {"payment": f"{e.status_code}", "type": e.body.get("type") if isinstance(e.body, dict) else None}
elif step in ("responses", "responses_tools"):
    kw = {"tools": RESPONSES_TOOLS} if step == "responses_tools" else {}
    r = client.responses.create(model="gpt-4.1", input="Hello", max_output_tokens=1024, **kw)
    out = response_summary(r)
elif step == "responses_stream":
    kinds, text, args = [], "", {}
    with client.responses.stream(model="gpt-4.1", input="Weather in Paris and Tokyo?",
                                 max_output_tokens=1024, tools=RESPONSES_TOOLS) as stream:
        for event in stream:
            if event.type not in kinds:
                kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type == "response.function_call_arguments.delta":
                args[event.output_index] = args.get(event.output_index, "") + event.delta
        final = stream.get_final_response()
    out = response_summary(final)
    out.update({"events": kinds, "streamed_text": text,
                "rebuilt_arguments": [json.loads(args[i]) for i in sorted(args)]})
elif step == "embeddings":
    r = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"],
                                 encoding_format="float")
    out = {"count": len(r.data), "first": r.data[0].embedding, "indexes": [d.index for d in r.data],
           "prompt_tokens": r.usage.prompt_tokens, "model": r.model}
elif step == "responses_error":
    try:
        client.responses.create(model="gpt-4.1", input="Hello", previous_response_id="resp_1")
        out = {"error": "none"}
    except openai.APIStatusError as e:
        out = {"error": f"{type(e).__name__}:{e.status_code}", "param": (e.body or {}).get("param")
               if isinstance(e.body, dict) else None}
print(json.dumps(out))
