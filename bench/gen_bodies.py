"""Writes the mock upstream's bodies: a ~1 KB chat completion and a stream of
20 content chunks plus a usage chunk (OpenAI wire format); and the same answer as an Anthropic
Message and as an OpenAI Responses object, each with its stream."""
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

# Anthropic Messages (the /api/v1/messages pass-through): the same text, and a
# stream of 20 text deltas between message_start/content_block_start and
# content_block_stop/message_delta/message_stop (Anthropic's event sequence).
message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
           "content": [{"type": "text", "text": text.strip()}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 120, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 130}}
open(f"{out}/message.json", "w").write(json.dumps(message))
anth = [("message_start", {"type": "message_start", "message": dict(message, content=[], stop_reason=None,
                                                                     usage={"input_tokens": 120, "cache_creation_input_tokens": 0,
                                                                            "cache_read_input_tokens": 0, "output_tokens": 1})}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
for i in range(20):
    anth.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" word{i}"}}))
anth += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
         ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 21}}),
         ("message_stop", {"type": "message_stop"})]
open(f"{out}/message.sse", "w").write("".join(f"event: {n}\ndata: {json.dumps(e, separators=(',', ':'))}\n\n" for n, e in anth))

# OpenAI Responses (the /api/v1/responses pass-through): the same text, and a
# stream of 20 output_text deltas in the Responses event sequence.
item = {"type": "message", "id": "msg_bench", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text.strip(), "annotations": []}]}
response = {"id": "resp_bench", "object": "response", "created_at": 1741476542, "status": "completed", "error": None,
            "model": "gpt-4.1-2025-04-14", "output": [item], "store": False,
            "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 130,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 250}}
open(f"{out}/response.json", "w").write(json.dumps(response))
started = dict(response, status="in_progress", output=[], usage=None)
part = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
resp = [{"type": "response.created", "response": started}, {"type": "response.in_progress", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": dict(item, status="in_progress", content=[])},
        dict(part, type="response.content_part.added", part={"type": "output_text", "text": "", "annotations": []})]
for i in range(20):
    resp.append(dict(part, type="response.output_text.delta", delta=f" word{i}"))
done_text = "".join(f" word{i}" for i in range(20))
resp += [dict(part, type="response.output_text.done", text=done_text),
         dict(part, type="response.content_part.done", part={"type": "output_text", "text": done_text, "annotations": []}),
         {"type": "response.output_item.done", "output_index": 0,
          "item": dict(item, content=[{"type": "output_text", "text": done_text, "annotations": []}])},
         {"type": "response.completed", "response": dict(response, output=[dict(item, content=[{"type": "output_text", "text": done_text, "annotations": []}])],
                                                         usage={"input_tokens": 120, "output_tokens": 21, "total_tokens": 141})}]
open(f"{out}/response.sse", "w").write("".join(f"event: {e['type']}\ndata: {json.dumps(dict(e, sequence_number=n), separators=(',', ':'))}\n\n"
                                               for n, e in enumerate(resp)))
