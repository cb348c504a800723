//! `credential`: what users submit (and the vault gives back) read by
//! `Credential::parse` for every provider.

use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::edit::{Data, Event, Vocab};
use super::{Input, input, raw};
use crate::credential::{AwsAuth, Credential, EndpointPolicy};
use crate::error::CredentialError;
use crate::id::{PROVIDERS, ProviderId};

/// Credentials as users paste them: keys, and the JSON documents of the
/// AWS, Azure and hosted-key providers.
fn documents() -> Vec<Data> {
    let mut out: Vec<Data> = [
        "sk-proj-abcdefghijklmnop0123456789",
        "  gsk_0123456789abcdefABCDEF \n",
        "AIzaSyD-0123456789abcdefghijklmnopqrs",
    ]
    .iter()
    .map(|k| Data::Text((*k).to_owned()))
    .collect();
    for v in [
        json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "region": "us-east-1"}),
        json!({"accessKeyId": "ASIAIOSFODNN7EXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLETOKEN0123", "region": "us-gov-west-1"}),
        json!({"apiKey": "ABSKQmVkcm9ja0FQSUtleS0wMTIz", "region": "eu-west-3"}),
        json!({"endpoint": "https://my-resource.openai.azure.com", "apiKey": "0123456789abcdef0123456789abcdef", "deploymentName": "gpt-4o", "apiVersion": "2024-10-21"}),
        json!({"endpoint": "https://my-resource.openai.azure.com/", "apiKey": "0123456789abcdef0123456789abcdef", "apiVersion": "v1"}),
        json!({"endpoint": "https://my-resource.services.ai.azure.com/anthropic/", "apiKey": "0123456789abcdef0123456789abcdef"}),
    ] {
        out.push(Data::Json(v));
    }
    for p in &PROVIDERS {
        out.push(match serde_json::from_str(p.example) {
            Ok(v) => Data::Json(v),
            Err(_) => Data::Text(p.example.to_owned()),
        });
        for field in p.host_fields() {
            for value in p.host_values(field) {
                out.push(Data::Json(json!({
                    "apiKey": "key-0123456789abcdefghij",
                    field.as_str(): value,
                })));
            }
        }
    }
    out
}

fn vocab() -> &'static Vocab {
    static VOCAB: OnceLock<Vocab> = OnceLock::new();
    VOCAB.get_or_init(|| {
        Vocab::new(
            documents()
                .into_iter()
                .map(|data| vec![Event { name: None, data }])
                .collect(),
        )
    })
}

/// The input: a provider, an endpoint policy and the submitted text.
fn case(data: &[u8]) -> Option<(ProviderId, EndpointPolicy, String)> {
    let pick = |i: usize| PROVIDERS[i % PROVIDERS.len()].id;
    let policy = |insecure| EndpointPolicy {
        allow_insecure: insecure,
    };
    match input(data)? {
        Input::Raw { bytes, piece } => {
            let (&p, text) = bytes.split_first()?;
            let text = std::str::from_utf8(text).ok()?.to_owned();
            Some((pick(usize::from(p)), policy(piece % 2 == 0), text))
        }
        Input::Structured(mut u) => {
            let u = &mut u;
            let provider = pick(u.int_in_range(0usize..=255).ok()?);
            let v = vocab();
            let text = match v.body(u).ok()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let text = if u.int_in_range(0u8..=7).ok()? == 7 {
                format!("{}{text}{}", v.word(u).ok()?, v.word(u).ok()?)
            } else {
                text
            };
            let insecure = u.int_in_range(0u8..=3).ok()? == 3;
            Some((provider, policy(insecure), text))
        }
    }
}

/// The secrets a credential holds.
fn secrets(c: &Credential) -> Vec<String> {
    let mut out = vec![c.hint_source().expose_secret().to_owned()];
    out.extend(c.api_key().map(|k| k.expose_secret().to_owned()));
    if let Credential::Aws(a) = c
        && let AwsAuth::Keys {
            session_token: Some(t),
            ..
        } = &a.auth
    {
        out.push(t.expose_secret().to_owned());
    }
    out
}

/// The object keys of `text` when it is a JSON object.
fn keys(text: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// An error names a problem, never a value: `NotJson` says only where
/// JSON failed, an unknown field is named only when it is one of the
/// document's own short, letters-only keys.
fn check_error(e: &CredentialError, text: &str) {
    match e {
        CredentialError::NotJson(s) => {
            let at = s.split(" error at line ").nth(1).unwrap_or_default();
            let (line, column) = at.split_once(" column ").unwrap_or_default();
            let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            assert!(
                s == "not an object" || (digits(line) && digits(column)),
                "NotJson says where, not what: {s:?}"
            );
        }
        CredentialError::UnknownField(f) => {
            assert!(
                f == "(unnamed)"
                    || f.starts_with("accessKeyId (")
                    || (f.len() <= 24
                        && f.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
                        && keys(text).contains(f)),
                "an unknown field is one of the document's short keys: {f:?}"
            );
        }
        _ => {}
    }
}

/// Fuzz target `credential`: `Credential::parse` (and `plain_key`) of any
/// text for any provider. An accepted credential's storage form (what the
/// vault keeps) parses again to the same storage form; its public metadata
/// holds none of its secrets (unless a non-secret field holds them too);
/// an error never echoes a value.
pub fn credential(data: &[u8]) {
    let Some((provider, policy, text)) = case(data) else {
        return;
    };
    let input = SecretString::from(text.clone());
    if let Ok(c) = Credential::plain_key(&input) {
        assert_eq!(
            c.to_storage().expose_secret(),
            text.trim_matches([' ', '\t', '\n', '\r']),
            "a plain key is stored trimmed"
        );
    }
    let c = match Credential::parse(provider, &input, policy) {
        Ok(c) => c,
        Err(e) => {
            check_error(&e, &text);
            return;
        }
    };
    let stored = c.to_storage();
    let again = Credential::parse(provider, &stored, policy);
    assert_eq!(
        again
            .as_ref()
            .map(|a| a.to_storage().expose_secret().to_owned()),
        Ok(stored.expose_secret().to_owned()),
        "{provider}: the storage form is read back as itself"
    );
    // The values (the keys are the metadata's own names).
    let meta: Vec<String> = c.public_meta().values().map(Value::to_string).collect();
    let public: Vec<String> = match &c {
        Credential::Aws(a) => {
            let mut p = vec![a.region.clone()];
            if let AwsAuth::Keys { access_key_id, .. } = &a.auth {
                p.push(access_key_id.clone());
            }
            p
        }
        Credential::Azure(a) | Credential::AzureResponses(a) | Credential::AzureAnthropic(a) => {
            let mut p = vec![a.endpoint.as_str().to_owned()];
            p.extend(a.deployment.clone());
            p.extend(a.api_version.clone());
            p
        }
        Credential::HostedKey(h) => h.choices().iter().map(|(_, v)| (*v).to_owned()).collect(),
        _ => Vec::new(),
    };
    for s in secrets(&c) {
        if s.len() >= 8 && !public.iter().any(|p| p.contains(&s)) {
            assert!(
                !meta.iter().any(|v| v.contains(&s)),
                "public metadata shows the secret {s:?}: {meta:?}"
            );
        }
    }
    let debug = format!("{c:?}");
    assert!(
        debug.starts_with("Credential::") && debug.ends_with("([REDACTED])"),
        "Debug shows only the kind: {debug}"
    );
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    let mut seen = std::collections::HashSet::new();
    for (i, d) in documents().into_iter().enumerate() {
        let text = match d {
            Data::Json(v) => v.to_string(),
            Data::Text(t) => t,
        };
        if !seen.insert(text.clone()) {
            continue;
        }
        // For every provider that accepts it (else one, for its error).
        let secret = SecretString::from(text.clone());
        let mut accepting: Vec<usize> = (0..PROVIDERS.len())
            .filter(|&p| {
                Credential::parse(PROVIDERS[p].id, &secret, EndpointPolicy::default()).is_ok()
            })
            .collect();
        if accepting.is_empty() {
            accepting.push(i % PROVIDERS.len());
        }
        for p in accepting.into_iter().take(2) {
            let mut bytes = vec![u8::try_from(p).unwrap_or(0)];
            bytes.extend_from_slice(text.as_bytes());
            out.push((
                "credential",
                format!("seed-{i}-{}", PROVIDERS[p].slug),
                raw(1, &bytes),
            ));
        }
    }
}
