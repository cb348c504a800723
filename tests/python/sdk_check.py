"""The official OpenAI Python SDK as a real client of byok-server.

Run by tests/tests/openai_sdk.rs: `python sdk_check.py STEP BASE_URL API_KEY`.
Each step prints one JSON line the Rust test asserts on.
"""
import json
import sys

import openai

step, base, key = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=base + "/api/v1", api_key=key, max_retries=0, timeout=20)
messages = [{"role": "user", "content": "Hello"}]
out = {}

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
print(json.dumps(out))
