//! Tests of the Messages codec: request mapping (with fixtures of what
//! Claude Code and the SDKs send), answers, the stream against a reference
//! reader that rebuilds the message as the Anthropic SDK's accumulator does,
//! and the pass-through usage reader.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod answer;
mod request;
mod stream;
mod usage;

use serde_json::{Map, Value, json};

use super::{Parsed, parse_request};

/// A fixture of `tests/fixtures/inbound_messages`, its `_source` note
/// removed.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/inbound_messages/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap();
    if !name.ends_with(".json") {
        return bytes;
    }
    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
    v.as_object_mut().unwrap().remove("_source");
    serde_json::to_vec(&v).unwrap()
}

/// Parses a request written as JSON.
fn parse(v: &Value) -> Parsed {
    parse_request(&serde_json::to_vec(v).unwrap()).unwrap()
}

/// A minimal request with `extra` top-level fields.
fn minimal(extra: Value) -> Value {
    let mut v = json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// Rebuilds the message from Anthropic stream bytes the way the Anthropic
/// SDK's accumulator does (`anthropic-sdk-python`
/// `lib/streaming/_messages.py` `accumulate_event`): `message_start` gives
/// the snapshot; `content_block_start` appends the block;
/// `content_block_delta` by `index`: `text_delta` appends text,
/// `input_json_delta` appends to a JSON buffer parsed into `input`,
/// `thinking_delta` appends thinking, `signature_delta` sets the signature,
/// `citations_delta` appends a citation; `message_delta` sets the stop
/// reason and sequence, `usage.output_tokens`, and the input and cache
/// counts that are not null. Checks every event's `event:` name equals its
/// `type`, and that blocks are started before their deltas.
fn reference_reader(sse: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(sse).map_err(|e| e.to_string())?;
    let mut snapshot: Option<Value> = None;
    let mut buffers: Vec<String> = Vec::new();
    let mut stopped = false;
    for raw in text.split("\n\n").filter(|e| !e.is_empty()) {
        let (name, data) = raw
            .strip_prefix("event: ")
            .and_then(|r| r.split_once("\ndata: "))
            .ok_or_else(|| format!("not an event: {raw:?}"))?;
        let e: Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
        if e["type"] != name {
            return Err(format!("event {name} carries {}", e["type"]));
        }
        if stopped {
            return Err(format!("{name} after message_stop"));
        }
        if name == "error" {
            return Err(format!("error: {}", e["error"]));
        }
        if name == "message_start" {
            snapshot = Some(e["message"].clone());
            continue;
        }
        let snap = snapshot.as_mut().ok_or("event before message_start")?;
        apply(snap, &mut buffers, name, &e)?;
        stopped = name == "message_stop";
    }
    if !stopped {
        return Err("no message_stop".into());
    }
    snapshot.ok_or_else(|| "no message_start".into())
}

fn apply(snap: &mut Value, buffers: &mut Vec<String>, name: &str, e: &Value) -> Result<(), String> {
    match name {
        "content_block_start" => {
            let content = snap["content"].as_array_mut().ok_or("content")?;
            if e["index"] != content.len() {
                return Err(format!("block {} started at {}", e["index"], content.len()));
            }
            content.push(e["content_block"].clone());
            buffers.push(String::new());
        }
        "content_block_delta" => {
            let i =
                usize::try_from(e["index"].as_u64().ok_or("index")?).map_err(|e| e.to_string())?;
            let block = snap["content"].get_mut(i).ok_or("delta before its start")?;
            let d = &e["delta"];
            let append = |block: &mut Value, key: &str, add: &Value| {
                let s = format!(
                    "{}{}",
                    block[key].as_str().unwrap_or(""),
                    add.as_str().unwrap()
                );
                block[key] = Value::from(s);
            };
            match (d["type"].as_str().unwrap(), block["type"].as_str().unwrap()) {
                ("text_delta", "text") => append(block, "text", &d["text"]),
                ("thinking_delta", "thinking") => append(block, "thinking", &d["thinking"]),
                ("signature_delta", "thinking") => block["signature"] = d["signature"].clone(),
                ("input_json_delta", "tool_use") => {
                    buffers[i].push_str(d["partial_json"].as_str().unwrap());
                    if !buffers[i].is_empty() {
                        block["input"] = serde_json::from_str(&buffers[i]).unwrap_or(Value::Null);
                    }
                }
                ("citations_delta", "text") => block["citations"]
                    .as_array_mut()
                    .ok_or("citations")?
                    .push(d["citation"].clone()),
                (d, b) => return Err(format!("{d} on a {b} block")),
            }
        }
        "content_block_stop" => {}
        "message_delta" => {
            snap["stop_reason"] = e["delta"]["stop_reason"].clone();
            snap["stop_sequence"] = e["delta"]["stop_sequence"].clone();
            snap["usage"]["output_tokens"] = e["usage"]["output_tokens"].clone();
            for key in [
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
            ] {
                if let Some(v) = e["usage"].get(key).filter(|v| !v.is_null()) {
                    snap["usage"][key] = v.clone();
                }
            }
        }
        "message_stop" | "ping" => {}
        other => return Err(format!("unknown event {other}")),
    }
    Ok(())
}

/// The assistant message a client sends back: the answer's `content`.
fn replay(answer: &Value) -> Value {
    json!({"role": "assistant", "content": answer["content"]})
}

/// A map from pairs.
fn map(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}
