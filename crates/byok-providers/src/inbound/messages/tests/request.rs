//! Request mapping.

use serde_json::{Value, json};

use super::{fixture, map, minimal, parse};
use crate::id::{ProviderId, Quirks, WireFormat};
use crate::inbound::InboundError;
use crate::inbound::messages::{parse_count_tokens, parse_request};
use crate::types::{Content, ContentPart, Message, ResponseFormat, Stop, ToolChoice};

/// The client's exact `thinking.budget_tokens`, as kept in `Parsed`.
fn budget_tokens(p: &crate::inbound::messages::Parsed) -> Option<u32> {
    let t = p.thinking.as_ref()?;
    t.get("budget_tokens")
        .and_then(Value::as_u64)
        .map(|b| u32::try_from(b).unwrap())
}

fn parts(content: &Content) -> &[ContentPart] {
    match content {
        Content::Parts(p) => p,
        Content::Text(_) => panic!("text, not parts"),
    }
}

#[test]
fn claude_code_request() {
    let p = parse_request(&fixture("claude_code_request.json")).unwrap();
    let r = &p.request;
    assert_eq!(p.model, "claude-sonnet-4-5-20250929");
    assert!(p.stream && r.is_stream() && r.wants_stream_usage());
    assert_eq!(r.max_tokens, Some(32000));
    assert_eq!(r.temperature, Some(1.0));
    assert_eq!(r.user.as_deref(), Some("user_2f4a_account__session_6c1d"));
    assert_eq!(r.reasoning_effort.as_deref(), Some("high"));
    assert_eq!(budget_tokens(&p), Some(31999));
    assert!(p.anthropic_only.is_empty());
    p.check_translatable().unwrap();
    assert!(r.extra.is_empty(), "{:?}", r.extra);

    // System: one message per block, cache_control kept.
    let m = &r.messages;
    for (i, text) in [(0, "You are Claude Code"), (1, "You are an interactive")] {
        let Message::System { content, .. } = &m[i] else {
            panic!("{:?}", m[i])
        };
        let ContentPart::Text { text: t, extra } = &parts(content)[0] else {
            panic!()
        };
        assert!(t.starts_with(text));
        assert_eq!(extra["cache_control"], json!({"type": "ephemeral"}));
    }
    // Tools: input_schema → parameters, cache_control in extra.
    let tools = r.tools.as_deref().unwrap();
    assert_eq!(tools.len(), 2);
    assert!(tools.iter().all(crate::types::Tool::is_function));
    assert_eq!(tools[0].function.name, "Bash");
    assert_eq!(
        tools[0].function.parameters.as_ref().unwrap()["required"],
        json!(["command"])
    );
    assert!(tools[0].extra.is_empty());
    assert_eq!(
        tools[1].extra["cache_control"],
        json!({"type": "ephemeral"})
    );

    // User text blocks, the last with cache_control.
    let Message::User { content, .. } = &m[2] else {
        panic!()
    };
    let ContentPart::Text { extra, .. } = &parts(content)[1] else {
        panic!()
    };
    assert_eq!(extra["cache_control"]["type"], "ephemeral");
}

/// Claude Code's thinking + tool-use turn and its tool results.
#[test]
fn claude_code_request_turns() {
    let p = parse_request(&fixture("claude_code_request.json")).unwrap();
    let m = &p.request.messages;
    // Assistant: thinking → reasoning, text, tool calls.
    let Message::Assistant {
        content,
        tool_calls,
        reasoning_content,
        reasoning_details,
        ..
    } = &m[3]
    else {
        panic!()
    };
    assert_eq!(content.as_ref().unwrap().text(), "Let me run the build.");
    assert_eq!(
        reasoning_content.as_deref(),
        Some("I should run the build and read its output.")
    );
    assert_eq!(
        reasoning_details.as_deref().unwrap(),
        [
            json!({"type": "reasoning.text", "text": "I should run the build and read its output.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxDb2RlSW5wdXRTaWc=", "format": "anthropic-claude-v1", "index": 0})
        ]
    );
    let calls = tool_calls.as_deref().unwrap();
    assert_eq!(calls[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(calls[0].function.arguments, r#"{"command":"cargo build"}"#);
    assert_eq!(calls[1].function.name, "Read");

    // Tool results first (in order), then the user's text.
    let Message::Tool {
        tool_call_id,
        content,
        extra,
    } = &m[4]
    else {
        panic!("{:?}", m[4])
    };
    assert_eq!(tool_call_id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(
        content,
        &Content::Text("error[E0432]: unresolved import `foo`".into())
    );
    assert_eq!(extra, &map(&[("is_error", json!(true))]));
    let Message::Tool {
        tool_call_id,
        content,
        extra,
    } = &m[5]
    else {
        panic!()
    };
    assert_eq!(tool_call_id, "toolu_01B8x7r2");
    assert_eq!(content.text(), "[package]\nname = \"demo\"");
    assert_eq!(extra["cache_control"]["type"], "ephemeral");
    let Message::User { content, .. } = &m[6] else {
        panic!()
    };
    assert_eq!(content.text(), "Keep it short.");
    assert_eq!(m.len(), 7);
}

/// What Claude Code sends goes through every translator (a thinking
/// budget becomes each one's effort, tools and tool results their own
/// shapes), and the Anthropic one replays the signed thinking block.
#[test]
fn claude_code_request_translates_for_every_format() {
    let p = parse_request(&fixture("claude_code_request.json")).unwrap();
    let r = &p.request;
    r.validate().unwrap();
    crate::encode_google_request(ProviderId::Google, r).unwrap();
    // Bedrock reads Claude's own `thinking` object, not the effort.
    let e = crate::encode_bedrock_request(ProviderId::Aws, r).unwrap_err();
    assert!(e.to_string().contains("reasoning_effort"), "{e}");
    let mut bedrock = p.clone();
    bedrock.adapt_to(WireFormat::BedrockConverse);
    let wire: Value = serde_json::from_slice(
        &crate::encode_bedrock_request(ProviderId::Aws, &bedrock.request).unwrap(),
    )
    .unwrap();
    assert_eq!(
        wire["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 31999}})
    );
    let mut same = p.clone();
    same.adapt_to(WireFormat::Gemini);
    assert_eq!(same, p);
    crate::encode_responses_request(ProviderId::OpenAiResponses, r, true).unwrap();
    crate::encode_request(r, Quirks::OPENAI, true).unwrap();
    let wire: Value = serde_json::from_slice(
        &crate::encode_anthropic_request(ProviderId::Anthropic, r, true).unwrap(),
    )
    .unwrap();
    assert_eq!(
        wire["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "I should run the build and read its output.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxDb2RlSW5wdXRTaWc="})
    );
    assert_eq!(
        wire["messages"][1]["content"][2]["input"],
        json!({"command": "cargo build"})
    );
    assert_eq!(
        wire["messages"][2]["content"][1]["tool_use_id"],
        "toolu_01B8x7r2"
    );
}

#[test]
fn sdk_content_and_tool_shapes() {
    let p = parse_request(&fixture("sdk_request_shapes.json")).unwrap();
    let r = &p.request;
    assert!(!p.stream && r.stream.is_none() && r.stream_options.is_none());
    assert_eq!(r.stop, Some(Stop::Many(vec!["\n\nHuman:".into()])));
    assert_eq!(p.stop_sequences, ["\n\nHuman:"]);
    assert_eq!(r.extra["top_k"], 40);
    assert_eq!(r.top_p, Some(0.9));
    assert_eq!(r.parallel_tool_calls, Some(false));
    let Some(ToolChoice::Named(n)) = &r.tool_choice else {
        panic!("{:?}", r.tool_choice)
    };
    assert_eq!(n.function.name, "get_weather");
    assert!(
        matches!(&r.messages[0], Message::System { content: Content::Text(t), .. } if t == "Answer in French.")
    );

    let Message::User { content, .. } = &r.messages[1] else {
        panic!()
    };
    let ps = parts(content);
    let ContentPart::ImageUrl { image_url, extra } = &ps[0] else {
        panic!()
    };
    assert_eq!(image_url.url, "data:image/png;base64,iVBORw0KGgo=");
    assert_eq!(extra["cache_control"]["type"], "ephemeral");
    let ContentPart::ImageUrl { image_url, .. } = &ps[1] else {
        panic!()
    };
    assert!(image_url.url.starts_with("https://upload.wikimedia.org/"));
    assert_eq!(
        ps[2],
        ContentPart::Other(map(&[
            ("type", json!("file")),
            (
                "file",
                json!({"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "report.pdf"})
            )
        ]))
    );
    assert!(matches!(&ps[3], ContentPart::Text { text, .. } if text == "The grass is green."));
    assert!(matches!(&ps[4], ContentPart::Other(m) if m["type"] == "document"));
    assert!(matches!(&ps[5], ContentPart::Text { text, .. } if text == "What is in these?"));

    // The server tool and the URL document are kept, and named.
    let tools = r.tools.as_deref().unwrap();
    assert_eq!(tools[1].kind, "web_search_20250305");
    assert_eq!(tools[1].extra["max_uses"], 5);
    assert_eq!(
        p.anthropic_only,
        [
            "`document` blocks with a `url` source",
            "`web_search_20250305` tools"
        ]
    );
    let InboundError::Invalid { message, .. } = p.check_translatable().unwrap_err() else {
        panic!()
    };
    assert!(message.starts_with("`document` blocks with a `url` source, `web_search_20250305` tools only work with Anthropic models"), "{message}");
    // A translator asked anyway refuses it by name.
    let mut no_doc = p.request.clone();
    if let Message::User {
        content: Content::Parts(ps),
        ..
    } = &mut no_doc.messages[1]
    {
        ps.retain(|p| !matches!(p, ContentPart::Other(_)));
    }
    let e = crate::encode_google_request(ProviderId::Google, &no_doc).unwrap_err();
    assert!(e.to_string().contains("`web_search_20250305` tools"), "{e}");
}

#[test]
fn tool_choices() {
    for (choice, want, parallel) in [
        (json!({"type": "auto"}), json!("auto"), None),
        (json!({"type": "any"}), json!("required"), None),
        (json!({"type": "none"}), json!("none"), None),
        (
            json!({"type": "auto", "disable_parallel_tool_use": true}),
            json!("auto"),
            Some(false),
        ),
        (
            json!({"type": "any", "disable_parallel_tool_use": false}),
            json!("required"),
            None,
        ),
        (
            json!({"type": "tool", "name": "f"}),
            json!({"type": "function", "function": {"name": "f"}}),
            None,
        ),
    ] {
        let p = parse(&minimal(json!({"tool_choice": choice})));
        assert_eq!(
            serde_json::to_value(&p.request.tool_choice).unwrap(),
            want,
            "{choice}"
        );
        assert_eq!(p.request.parallel_tool_calls, parallel, "{choice}");
    }
    for bad in [json!({"type": "tool"}), json!({"type": "sometimes"})] {
        let e = parse_request(&serde_json::to_vec(&minimal(json!({"tool_choice": bad}))).unwrap());
        assert!(matches!(e, Err(InboundError::Invalid { .. })), "{e:?}");
    }
}

#[test]
fn thinking_becomes_an_effort() {
    for (thinking, config, effort, budget) in [
        (
            json!({"type": "enabled", "budget_tokens": 1024}),
            Value::Null,
            Some("low"),
            Some(1024),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 4000}),
            Value::Null,
            Some("medium"),
            Some(4000),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 10000}),
            Value::Null,
            Some("high"),
            Some(10000),
        ),
        (json!({"type": "adaptive"}), Value::Null, Some("high"), None),
        (
            json!({"type": "adaptive"}),
            json!({"effort": "low"}),
            Some("low"),
            None,
        ),
        (
            json!({"type": "adaptive"}),
            json!({"effort": "max"}),
            Some("high"),
            None,
        ),
        (
            json!({"type": "disabled"}),
            json!({"effort": "low"}),
            None,
            None,
        ),
        (Value::Null, json!({"effort": "medium"}), None, None),
    ] {
        let p = parse(&minimal(
            json!({"thinking": thinking, "output_config": config}),
        ));
        assert_eq!(
            p.request.reasoning_effort.as_deref(),
            effort,
            "{thinking} {config}"
        );
        assert_eq!(budget_tokens(&p), budget);
        assert!(p.request.extra.is_empty(), "{:?}", p.request.extra);
    }
    for bad in [
        json!({"thinking": {"type": "enabled"}}),
        json!({"thinking": {"type": "sometimes"}}),
        json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "extreme"}}),
    ] {
        let e = parse_request(&serde_json::to_vec(&minimal(bad.clone())).unwrap()).unwrap_err();
        assert!(matches!(e, InboundError::Invalid { .. }), "{bad}: {e:?}");
    }
}

/// Structured output (`output_config.format`, or the beta `output_format`)
/// becomes `response_format` `json_schema`, which the translators carry.
#[test]
fn structured_output() {
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false});
    for extra in [
        json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}}),
        json!({"output_format": {"type": "json_schema", "schema": schema}}),
    ] {
        let p = parse(&minimal(extra.clone()));
        let Some(ResponseFormat::JsonSchema { json_schema }) = &p.request.response_format else {
            panic!("{extra}")
        };
        assert_eq!(
            json_schema,
            &json!({"name": "output", "schema": schema, "strict": true})
        );
        let wire: Value = serde_json::from_slice(
            &crate::encode_anthropic_request(ProviderId::Anthropic, &p.request, false).unwrap(),
        )
        .unwrap();
        assert_eq!(wire["output_config"]["format"]["schema"], schema);
        crate::encode_google_request(ProviderId::Google, &p.request).unwrap();
    }
    let e = parse_request(
        &serde_json::to_vec(&minimal(
            json!({"output_config": {"format": {"type": "json_schema"}}}),
        ))
        .unwrap(),
    );
    assert!(matches!(e, Err(InboundError::Invalid { .. })));
    // Unknown output_config keys stay, for the translators to name.
    let p = parse(&minimal(json!({"output_config": {"task_budget": 5}})));
    assert_eq!(p.request.extra["output_config"], json!({"task_budget": 5}));
}

#[test]
fn anthropic_only_fields_are_kept_and_named() {
    let p = parse(&minimal(json!({
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "x"}],
        "service_tier": "auto",
        "container": null,
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "cache_control": {"type": "ephemeral"}
    })));
    assert!(!p.request.extra.contains_key("cache_control"));
    assert!(!p.request.extra.contains_key("context_management"));
    assert_eq!(p.anthropic_only, ["the `mcp_servers` parameter"]);
    assert!(p.request.extra.contains_key("mcp_servers"));
    assert_eq!(p.request.extra["service_tier"], "auto");
    let mut r = p.request.clone();
    r.extra.remove("mcp_servers");
    crate::encode_google_request(ProviderId::Google, &r).unwrap();
}

#[test]
fn count_tokens_needs_no_max_tokens_and_never_streams() {
    let body = json!({"model": "claude-x", "stream": true, "system": "s", "messages": [{"role": "user", "content": "hi"}]});
    let p = parse_count_tokens(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert!(!p.stream && p.request.max_tokens.is_none() && p.request.stream.is_none());
    assert_eq!(p.request.messages.len(), 2);
    let e = parse_request(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "max_tokens: Field required");
}

#[test]
fn malformed_requests_are_refused() {
    for (body, malformed) in [
        (&b"not json"[..], true),
        (br#"{"max_tokens": 1, "messages": []}"#, true),
        (br#"{"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}"#, false),
        (br#"{"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"text": "no type"}]}]}"#, false),
        (br#"{"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}"#, false),
        (br#"{"model": "m", "max_tokens": 1, "system": [{"type": "image"}], "messages": []}"#, false),
        (br#"{"model": "m", "max_tokens": -1, "messages": []}"#, true),
    ] {
        let e = parse_request(body).unwrap_err();
        assert_eq!(matches!(e, InboundError::Malformed(_)), malformed, "{}: {e:?}", String::from_utf8_lossy(body));
    }
}

/// Defaults and nulls are accepted and add nothing.
#[test]
fn defaults_are_accepted() {
    let p = parse(&minimal(json!({
        "system": null, "stop_sequences": [], "tools": [], "metadata": {}, "temperature": null,
        "top_k": null, "thinking": null, "output_config": null, "stream": false
    })));
    let r = &p.request;
    assert!(r.stop.is_none() && r.tools.is_none() && r.user.is_none() && r.stream.is_none());
    assert!(r.extra.is_empty(), "{:?}", r.extra);
    assert_eq!(r.messages.len(), 1);
}

/// An assistant message that only calls a tool, one with string content,
/// and a tool result with image content.
#[test]
fn assistant_and_tool_result_shapes() {
    let p = parse(&json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "plain"},
        {"role": "assistant", "content": [
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "g", "input": {"_raw_arguments": "not json"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "see"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]},
            {"type": "tool_result", "tool_use_id": "t2", "is_error": false}]}
    ]}));
    let m = &p.request.messages;
    assert!(
        matches!(&m[1], Message::Assistant { content: Some(Content::Text(t)), .. } if t == "plain")
    );
    let Message::Assistant {
        content,
        tool_calls,
        reasoning_details,
        reasoning_content,
        ..
    } = &m[2]
    else {
        panic!()
    };
    assert!(content.is_none() && reasoning_content.is_none());
    assert_eq!(
        reasoning_details.as_deref().unwrap(),
        [
            json!({"type": "reasoning.encrypted", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a", "format": "anthropic-claude-v1", "index": 0})
        ]
    );
    let calls = tool_calls.as_deref().unwrap();
    assert_eq!(calls[0].function.arguments, "{}");
    assert_eq!(calls[1].function.arguments, "not json");
    let Message::Tool { content, extra, .. } = &m[3] else {
        panic!()
    };
    assert!(
        matches!(&parts(content)[1], ContentPart::ImageUrl { image_url, .. } if image_url.url == "data:image/jpeg;base64,/9j/")
    );
    assert!(extra.is_empty());
    let Message::Tool { content, extra, .. } = &m[4] else {
        panic!()
    };
    assert_eq!(content, &Content::Text(String::new()));
    assert!(extra.is_empty());
    assert_eq!(m.len(), 5, "no empty user message after the tool results");
}
