//! Helpers shared by the translators' unit tests.

use proptest::prelude::*;

use crate::types::{Content, FunctionCall, Message, ToolCall};

/// How a translator's generated conversations differ.
pub(crate) struct Shape {
    /// The id of the `n`-th tool call, given a random tag (Gemini carries a
    /// thought signature in its ids).
    pub(crate) call_id: fn(usize, &str) -> String,
    /// The id a tool result answers, for a call id.
    pub(crate) result_id: fn(&str) -> String,
    /// Whether a user turn may go unanswered (two user messages in a row);
    /// otherwise an empty answer becomes the text `ok` (Gemini and Converse
    /// merge consecutive same-role turns).
    pub(crate) user_runs: bool,
}

/// Random conversations for round-trip property tests: an optional system
/// message, then 1-3 turns of user text, an assistant answer (text, 0-2
/// tool calls with JSON-object arguments, or both) and one tool result per
/// call.
pub(crate) fn conversation(shape: Shape) -> impl Strategy<Value = Vec<Message>> {
    let call = (
        "[a-z]{1,6}",
        proptest::collection::btree_map("[a-z]{1,5}", "[a-z0-9]{0,5}", 0..3),
        "[A-Za-z0-9+/]{4,12}",
    );
    let turn = (
        "[a-z ]{1,12}",
        proptest::option::of("[a-z ]{1,12}"),
        proptest::collection::vec(call, 0..3),
    );
    (
        proptest::option::of("[a-z ]{1,12}"),
        proptest::collection::vec(turn, 1..4),
    )
        .prop_map(move |(system, turns)| {
            let mut m = Vec::new();
            if let Some(s) = system {
                m.push(Message::System {
                    content: Content::Text(s),
                    name: None,
                });
            }
            let mut n = 0;
            for (user, answer, calls) in turns {
                m.push(Message::User {
                    content: Content::Text(user),
                    name: None,
                    extra: Default::default(),
                });
                if answer.is_none() && calls.is_empty() && shape.user_runs {
                    continue;
                }
                let answer = if answer.is_none() && calls.is_empty() {
                    Some("ok".to_owned())
                } else {
                    answer
                };
                let calls: Vec<ToolCall> = calls
                    .into_iter()
                    .map(|(name, args, tag)| {
                        n += 1;
                        ToolCall {
                            id: (shape.call_id)(n, &tag),
                            kind: "function".into(),
                            function: FunctionCall {
                                name,
                                arguments: serde_json::to_string(&args).unwrap_or_default(),
                            },
                        }
                    })
                    .collect();
                m.push(Message::Assistant {
                    content: answer.map(Content::Text),
                    tool_calls: (!calls.is_empty()).then(|| calls.clone()),
                    refusal: None,
                    reasoning_content: None,
                    reasoning_details: None,
                    name: None,
                    extra: Default::default(),
                });
                for c in calls {
                    let id = (shape.result_id)(&c.id);
                    m.push(Message::Tool {
                        content: Content::Text(format!("r{id}")),
                        tool_call_id: id,
                        extra: Default::default(),
                    });
                }
            }
            m
        })
}

/// Call ids `call_1`, `call_2`, ... answered as they are.
pub(crate) const PLAIN: Shape = Shape {
    call_id: |n, _| format!("call_{n}"),
    result_id: str::to_owned,
    user_runs: false,
};
