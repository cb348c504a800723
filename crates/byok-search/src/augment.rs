//! Search-augmented chat: a query from the conversation, and the results as
//! a cited context message within a token budget.
//!
//! The server calls [`build_query`] with the last user message, runs the
//! search, then [`augment`] to get the context text (to send as a system
//! message before the conversation) and the citations (to return to the
//! client). Everything here is deterministic: the same results give the
//! same context, byte for byte.

use serde::Serialize;

use crate::types::SearchResponse;

/// Longest query built from a message, in characters.
pub const MAX_AUGMENT_QUERY_CHARS: usize = 400;
/// Default token budget of the context message.
pub const DEFAULT_BUDGET_TOKENS: usize = 2_000;

/// A numbered source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    /// The number used in the context (`[1]`, `[2]`, ...).
    pub index: usize,
    /// Page title.
    pub title: String,
    /// Page URL.
    pub url: String,
}

/// The context message and its citations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Augmentation {
    /// Text of the context message.
    pub context: String,
    /// Sources included, in order.
    pub citations: Vec<Citation>,
}

/// A conservative token estimate for budgeting: one token per 3 bytes,
/// rounded up (real tokenizers average about 4 bytes per token on English
/// text, so this over-counts).
pub fn approx_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// The search query for a user message: whitespace collapsed, trimmed, cut
/// to [`MAX_AUGMENT_QUERY_CHARS`] at a word boundary when possible. `None`
/// for a message with no text.
pub fn build_query(last_user_message: &str) -> Option<String> {
    let collapsed: String = last_user_message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if collapsed.is_empty() {
        return None;
    }
    if collapsed.chars().count() <= MAX_AUGMENT_QUERY_CHARS {
        return Some(collapsed);
    }
    let hard: String = collapsed.chars().take(MAX_AUGMENT_QUERY_CHARS).collect();
    Some(match hard.rfind(' ') {
        Some(i) if i > MAX_AUGMENT_QUERY_CHARS / 2 => hard[..i].to_owned(),
        _ => hard,
    })
}

fn header(query: &str) -> String {
    format!(
        "Web search results for \"{query}\". Use them to answer and cite sources as [n]; \
         say so if they do not answer the question.\n"
    )
}

/// Builds the context within `budget_tokens` (counted with `count`):
/// results in order, numbered from 1, each as `[n] title\nurl\nsnippet`; a
/// result that does not fit whole is cut to the remaining budget if at
/// least its title and URL fit, and the results after it are left out.
pub fn augment(
    response: &SearchResponse,
    budget_tokens: usize,
    count: &dyn Fn(&str) -> usize,
) -> Augmentation {
    if response.results.is_empty() {
        return Augmentation {
            context: format!(
                "A web search for \"{}\" returned no results. Answer from your own knowledge and say that no sources were found.",
                response.query
            ),
            citations: Vec::new(),
        };
    }
    let mut context = header(&response.query);
    let mut used = count(&context);
    let mut citations = Vec::new();
    for result in &response.results {
        let n = citations.len() + 1;
        let head = format!("\n[{n}] {}\n{}\n", result.title.trim(), result.url.trim());
        let block = format!("{head}{}\n", result.snippet.trim());
        let cost = count(&block);
        if used + cost <= budget_tokens {
            context.push_str(&block);
            used += cost;
        } else {
            let head_cost = count(&head);
            if used + head_cost < budget_tokens {
                // Cut the snippet, char by char from the end, until it fits.
                let mut snippet: Vec<char> = result.snippet.trim().chars().collect();
                let mut text = String::new();
                while !snippet.is_empty() {
                    text = format!("{head}{}…\n", snippet.iter().collect::<String>());
                    if used + count(&text) <= budget_tokens {
                        break;
                    }
                    let drop = (snippet.len() / 8).max(1);
                    snippet.truncate(snippet.len() - drop);
                    text.clear();
                }
                if !text.is_empty() {
                    context.push_str(&text);
                    citations.push(Citation {
                        index: n,
                        title: result.title.trim().to_owned(),
                        url: result.url.trim().to_owned(),
                    });
                }
            }
            break;
        }
        citations.push(Citation {
            index: n,
            title: result.title.trim().to_owned(),
            url: result.url.trim().to_owned(),
        });
    }
    Augmentation { context, citations }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SearchProviderId;
    use crate::types::SearchResult;
    use proptest::prelude::*;

    fn response(n: usize, snippet_len: usize) -> SearchResponse {
        SearchResponse {
            provider: SearchProviderId::Tavily,
            query: "rust async runtimes".into(),
            results: (0..n)
                .map(|i| SearchResult {
                    title: format!("Result {i}"),
                    url: format!("https://example.com/{i}"),
                    snippet: "word ".repeat(snippet_len),
                    published_at: None,
                    score: None,
                })
                .collect(),
            answer: None,
        }
    }

    #[test]
    fn queries() {
        assert_eq!(
            build_query("  what   is\n\nBYOK?  ").as_deref(),
            Some("what is BYOK?")
        );
        assert_eq!(build_query(" \n\t "), None);
        let long = "word ".repeat(200);
        let q = build_query(&long).unwrap();
        assert!(q.chars().count() <= MAX_AUGMENT_QUERY_CHARS && !q.ends_with(' '));
    }

    #[test]
    fn numbering_and_determinism() {
        let r = response(3, 5);
        let a = augment(&r, DEFAULT_BUDGET_TOKENS, &approx_tokens);
        assert_eq!(
            a.citations.iter().map(|c| c.index).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(
            a.context
                .contains("\n[1] Result 0\nhttps://example.com/0\n")
        );
        assert!(a.context.contains("[3] Result 2"));
        assert_eq!(a, augment(&r, DEFAULT_BUDGET_TOKENS, &approx_tokens));
    }

    #[test]
    fn budget_trimming() {
        let r = response(10, 200);
        let a = augment(&r, 600, &approx_tokens);
        assert!(
            approx_tokens(&a.context) <= 600,
            "{}",
            approx_tokens(&a.context)
        );
        assert!(a.citations.len() < 10 && !a.citations.is_empty());
        // The last included result may be cut, marked with an ellipsis.
        let tiny = augment(&r, 60, &approx_tokens);
        assert!(approx_tokens(&tiny.context) <= 60);
        // Every citation number appears in the context.
        for c in &a.citations {
            assert!(a.context.contains(&format!("[{}] {}", c.index, c.title)));
        }
    }

    #[test]
    fn empty_results() {
        let a = augment(&response(0, 0), DEFAULT_BUDGET_TOKENS, &approx_tokens);
        assert!(a.citations.is_empty());
        assert!(a.context.contains("returned no results"));
    }

    proptest! {
        #[test]
        fn never_over_budget(n in 0usize..15, len in 0usize..300, budget in 50usize..3000) {
            let a = augment(&response(n, len), budget, &approx_tokens);
            if n > 0 {
                prop_assert!(approx_tokens(&a.context) <= budget.max(approx_tokens(&header("rust async runtimes"))));
            }
            for (i, c) in a.citations.iter().enumerate() {
                prop_assert_eq!(c.index, i + 1);
            }
        }
    }
}
