//! The recorded fixtures the structured inputs and the seed corpus start
//! from (`byok-testkit/fixtures` and this crate's `tests/fixtures`), each
//! with its file name.

/// OpenAI-dialect chat streams.
pub(crate) const OPENAI_STREAMS: &[(&str, &str)] = &[
    (
        "stream_azure_prompt_filter.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_azure_prompt_filter.sse"),
    ),
    (
        "stream_groq.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_groq.sse"),
    ),
    (
        "stream_malformed_chunk.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_malformed_chunk.sse"),
    ),
    (
        "stream_no_usage.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_no_usage.sse"),
    ),
    (
        "stream_openrouter.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_openrouter.sse"),
    ),
    (
        "stream_openrouter_error.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_openrouter_error.sse"),
    ),
    (
        "stream_parallel_tools.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_parallel_tools.sse"),
    ),
    (
        "stream_reasoning_groq.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_reasoning_groq.sse"),
    ),
    (
        "stream_reasoning_openrouter.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_reasoning_openrouter.sse"),
    ),
    (
        "stream_text.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_text.sse"),
    ),
    (
        "stream_tool_call.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_tool_call.sse"),
    ),
    (
        "stream_tools_in_order_groq.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_tools_in_order_groq.sse"),
    ),
    (
        "stream_truncated.sse",
        include_str!("../../../byok-testkit/fixtures/openai/stream_truncated.sse"),
    ),
];

/// Anthropic Messages streams.
pub(crate) const ANTHROPIC_STREAMS: &[(&str, &str)] = &[
    (
        "stream_citations.sse",
        include_str!("../../tests/fixtures/anthropic/stream_citations.sse"),
    ),
    (
        "stream_with_tool_use.sse",
        include_str!("../../tests/fixtures/inbound_messages/stream_with_tool_use.sse"),
    ),
    (
        "stream_error.sse",
        include_str!("../../../byok-testkit/fixtures/anthropic/stream_error.sse"),
    ),
    (
        "stream_structured.sse",
        include_str!("../../../byok-testkit/fixtures/anthropic/stream_structured.sse"),
    ),
    (
        "stream_text.sse",
        include_str!("../../../byok-testkit/fixtures/anthropic/stream_text.sse"),
    ),
    (
        "stream_thinking.sse",
        include_str!("../../../byok-testkit/fixtures/anthropic/stream_thinking.sse"),
    ),
    (
        "stream_thinking_tool_use.sse",
        include_str!("../../../byok-testkit/fixtures/anthropic/stream_thinking_tool_use.sse"),
    ),
    (
        "stream_tool_use.sse",
        include_str!("../../../byok-testkit/fixtures/anthropic/stream_tool_use.sse"),
    ),
];

/// OpenAI Responses streams.
pub(crate) const RESPONSES_STREAMS: &[(&str, &str)] = &[
    (
        "openai_stream.sse",
        include_str!("../../tests/fixtures/inbound_responses/openai_stream.sse"),
    ),
    (
        "incomplete_content_filter.sse",
        include_str!("../../tests/fixtures/responses/incomplete_content_filter.sse"),
    ),
    (
        "refusal.sse",
        include_str!("../../tests/fixtures/responses/refusal.sse"),
    ),
    (
        "structured.sse",
        include_str!("../../tests/fixtures/responses/structured.sse"),
    ),
    (
        "two_turn_1.sse",
        include_str!("../../tests/fixtures/responses/two_turn_1.sse"),
    ),
    (
        "two_turn_2.sse",
        include_str!("../../tests/fixtures/responses/two_turn_2.sse"),
    ),
    (
        "stream_error.sse",
        include_str!("../../../byok-testkit/fixtures/responses/stream_error.sse"),
    ),
    (
        "stream_failed.sse",
        include_str!("../../../byok-testkit/fixtures/responses/stream_failed.sse"),
    ),
    (
        "stream_incomplete.sse",
        include_str!("../../../byok-testkit/fixtures/responses/stream_incomplete.sse"),
    ),
    (
        "stream_text.sse",
        include_str!("../../../byok-testkit/fixtures/responses/stream_text.sse"),
    ),
    (
        "stream_tool_calls.sse",
        include_str!("../../../byok-testkit/fixtures/responses/stream_tool_calls.sse"),
    ),
];

/// Gemini streams.
pub(crate) const GEMINI_STREAMS: &[(&str, &str)] = &[
    (
        "grounded.sse",
        include_str!("../../tests/fixtures/gemini/grounded.sse"),
    ),
    (
        "text_with_signature.sse",
        include_str!("../../tests/fixtures/gemini/text_with_signature.sse"),
    ),
    (
        "thinking_tool_turn1.sse",
        include_str!("../../tests/fixtures/gemini/thinking_tool_turn1.sse"),
    ),
    (
        "thinking_tool_turn2.sse",
        include_str!("../../tests/fixtures/gemini/thinking_tool_turn2.sse"),
    ),
    (
        "stream_max_tokens.sse",
        include_str!("../../../byok-testkit/fixtures/google/stream_max_tokens.sse"),
    ),
    (
        "stream_safety.sse",
        include_str!("../../../byok-testkit/fixtures/google/stream_safety.sse"),
    ),
    (
        "stream_text.sse",
        include_str!("../../../byok-testkit/fixtures/google/stream_text.sse"),
    ),
    (
        "stream_thoughts.sse",
        include_str!("../../../byok-testkit/fixtures/google/stream_thoughts.sse"),
    ),
    (
        "stream_tool_calls.sse",
        include_str!("../../../byok-testkit/fixtures/google/stream_tool_calls.sse"),
    ),
];

/// Bedrock Converse streams as event lists (`[{event|exception, payload}]`, or `{events: [...]}`).
pub(crate) const BEDROCK_STREAMS: &[(&str, &str)] = &[
    (
        "stream_citations.json",
        include_str!("../../tests/fixtures/bedrock/stream_citations.json"),
    ),
    (
        "stream_thinking_tool.json",
        include_str!("../../tests/fixtures/bedrock/stream_thinking_tool.json"),
    ),
    (
        "stream_exception.events.json",
        include_str!("../../../byok-testkit/fixtures/bedrock/stream_exception.events.json"),
    ),
    (
        "stream_reasoning.events.json",
        include_str!("../../../byok-testkit/fixtures/bedrock/stream_reasoning.events.json"),
    ),
    (
        "stream_text.events.json",
        include_str!("../../../byok-testkit/fixtures/bedrock/stream_text.events.json"),
    ),
    (
        "stream_tool_use.events.json",
        include_str!("../../../byok-testkit/fixtures/bedrock/stream_tool_use.events.json"),
    ),
];

/// Chat completions requests (a body, or a list of `{request}` cases).
pub(crate) const CHAT_REQUESTS: &[(&str, &str)] = &[
    (
        "tool_config_cases.json",
        include_str!("../../../byok-testkit/fixtures/bedrock/tool_config_cases.json"),
    ),
    (
        "request_lossless.json",
        include_str!("../../../byok-testkit/fixtures/openai/request_lossless.json"),
    ),
];

/// Anthropic Messages requests (a body, or `{body}`).
pub(crate) const MESSAGES_REQUESTS: &[(&str, &str)] = &[
    (
        "claude_code_request.json",
        include_str!("../../tests/fixtures/inbound_messages/claude_code_request.json"),
    ),
    (
        "sdk_request_shapes.json",
        include_str!("../../tests/fixtures/inbound_messages/sdk_request_shapes.json"),
    ),
    (
        "claude_code_messages.json",
        include_str!("../../../byok-testkit/fixtures/agents/claude_code_messages.json"),
    ),
];

/// OpenAI Responses requests (`{body}`).
pub(crate) const RESPONSES_REQUESTS: &[(&str, &str)] = &[
    (
        "codex_request.json",
        include_str!("../../tests/fixtures/inbound_responses/codex_request.json"),
    ),
    (
        "sdk_create_request.json",
        include_str!("../../tests/fixtures/inbound_responses/sdk_create_request.json"),
    ),
    (
        "codex_responses.json",
        include_str!("../../../byok-testkit/fixtures/agents/codex_responses.json"),
    ),
];

/// Chat completions answers (what the inbound encoders write back).
pub(crate) const CHAT_ANSWERS: &[(&str, &str)] = &[
    (
        "chat_no_usage.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_no_usage.json"),
    ),
    (
        "chat_openai_extras.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_openai_extras.json"),
    ),
    (
        "chat_openrouter_turn2.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_openrouter_turn2.json"),
    ),
    (
        "chat_reasoning_groq.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_reasoning_groq.json"),
    ),
    (
        "chat_reasoning_openrouter.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_reasoning_openrouter.json"),
    ),
    (
        "chat_text.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_text.json"),
    ),
    (
        "chat_tool_calls.json",
        include_str!("../../../byok-testkit/fixtures/openai/chat_tool_calls.json"),
    ),
];

/// Anthropic Messages answers (pass-through usage).
pub(crate) const MESSAGES_ANSWERS: &[(&str, &str)] = &[
    (
        "message.json",
        include_str!("../../tests/fixtures/inbound_messages/message.json"),
    ),
    (
        "message_structured.json",
        include_str!("../../../byok-testkit/fixtures/anthropic/message_structured.json"),
    ),
    (
        "message_text.json",
        include_str!("../../../byok-testkit/fixtures/anthropic/message_text.json"),
    ),
    (
        "message_thinking.json",
        include_str!("../../../byok-testkit/fixtures/anthropic/message_thinking.json"),
    ),
    (
        "message_thinking_tool_use.json",
        include_str!("../../../byok-testkit/fixtures/anthropic/message_thinking_tool_use.json"),
    ),
    (
        "message_tool_use.json",
        include_str!("../../../byok-testkit/fixtures/anthropic/message_tool_use.json"),
    ),
];

/// OpenAI Responses answers (pass-through usage).
pub(crate) const RESPONSES_ANSWERS: &[(&str, &str)] = &[
    (
        "incomplete_content_filter.json",
        include_str!("../../tests/fixtures/responses/incomplete_content_filter.json"),
    ),
    (
        "refusal.json",
        include_str!("../../tests/fixtures/responses/refusal.json"),
    ),
    (
        "structured.json",
        include_str!("../../tests/fixtures/responses/structured.json"),
    ),
    (
        "two_turn_1.json",
        include_str!("../../tests/fixtures/responses/two_turn_1.json"),
    ),
    (
        "two_turn_2.json",
        include_str!("../../tests/fixtures/responses/two_turn_2.json"),
    ),
    (
        "response_text.json",
        include_str!("../../../byok-testkit/fixtures/responses/response_text.json"),
    ),
    (
        "response_tool_calls.json",
        include_str!("../../../byok-testkit/fixtures/responses/response_tool_calls.json"),
    ),
];
