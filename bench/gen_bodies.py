"""Writes the mock upstream's bodies: a ~1 KB chat completion and a stream of
20 content chunks plus a usage chunk (OpenAI wire format)."""
import json, sys, os

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
text = "The quick brown fox jumps over the lazy dog. " * 12
completion = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1741569952, "model": "gpt-4o-mini",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": text.strip()}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 120, "completion_tokens": 130, "total_tokens": 250,
                        "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}}
open(f"{out}/completion.json", "w").write(json.dumps(completion))
base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1741569952, "model": "gpt-4o-mini"}
events = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
for i in range(20):
    events.append(dict(base, choices=[{"index": 0, "delta": {"content": f" word{i}"}, "finish_reason": None}]))
events.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
events.append(dict(base, choices=[], usage={"prompt_tokens": 120, "completion_tokens": 21, "total_tokens": 141}))
sse = "".join("data: " + json.dumps(e, separators=(",", ":")) + "\n\n" for e in events) + "data: [DONE]\n\n"
open(f"{out}/stream.sse", "w").write(sse)
print(len(json.dumps(completion)), len(sse))
