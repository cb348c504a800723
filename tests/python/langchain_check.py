"""LangChain's ChatOpenAI as a real client of byok-server.

Run by tests/tests/clients.rs: `python langchain_check.py BASE_URL API_KEY PLAN`, where
PLAN is a JSON list of {"provider", "model", "ops"}; ops ("invoke", "stream", "tool",
"tool_loop": a tool call answered and sent back, "stream_tool": a streamed tool call,
"structured") run in the order given. Prints one JSON object: provider -> op -> result
(or {"error": ...}, so that one failing operation does not hide the others).
"""
import json
import sys

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

base, key, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


@tool
def get_weather(location: str, unit: str) -> str:
    """The current weather in a city."""
    return f"18 degrees {unit} in {location}"


class Weather(BaseModel):
    """The weather in one city."""

    city: str
    temperature_c: int
    conditions: list[str]


def invoke(llm):
    msg = llm.invoke("Hello")
    return {"content": msg.content, "finish": msg.response_metadata.get("finish_reason")}


def stream(llm):
    full = None
    chunks = 0
    for chunk in llm.stream("Hello"):
        chunks += 1
        full = chunk if full is None else full + chunk
    return {"content": full.content, "chunks": chunks,
            "finish": full.response_metadata.get("finish_reason")}


def tool_call(llm):
    msg = llm.bind_tools([get_weather]).invoke("What is the weather in Paris?")
    call = msg.tool_calls[0]
    return {"name": call["name"], "args": call["args"], "calls": len(msg.tool_calls),
            "id_ok": bool(call["id"]), "finish": msg.response_metadata.get("finish_reason")}


def tool_loop(llm):
    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris?")]
    ai = bound.invoke(messages)
    messages.append(ai)
    messages += [get_weather.invoke(call) for call in ai.tool_calls]
    final = bound.invoke(messages)
    return {"content": final.content, "ids": [c["id"] for c in ai.tool_calls],
            "result": messages[-1].content, "finish": final.response_metadata.get("finish_reason")}


def stream_tool(llm):
    full = None
    for chunk in llm.bind_tools([get_weather]).stream("What is the weather in Paris and Tokyo?"):
        full = chunk if full is None else full + chunk
    return {"calls": [{"name": c["name"], "args": c["args"]} for c in full.tool_calls],
            "ids": [c["id"] for c in full.tool_calls], "invalid": len(full.invalid_tool_calls),
            "finish": full.response_metadata.get("finish_reason")}


def structured(llm):
    weather = llm.with_structured_output(Weather, method="json_schema").invoke(
        "Describe the weather in Paris.")
    return {"type": type(weather).__name__, "object": weather.model_dump()}


OPS = {"invoke": invoke, "stream": stream, "tool": tool_call, "tool_loop": tool_loop,
       "stream_tool": stream_tool, "structured": structured}

out = {}
for family in plan:
    llm = ChatOpenAI(model=family["model"], base_url=base + "/api/v1", api_key=key,
                     default_headers={"x-byok-provider": family["provider"]},
                     max_retries=0, timeout=20)
    results = {}
    for op in family["ops"]:
        try:
            results[op] = OPS[op](llm)
        except Exception as e:  # reported, asserted on by the Rust test
            results[op] = {"error": f"{type(e).__name__}: {e}"}
    out[family["provider"]] = results
print(json.dumps(out))
