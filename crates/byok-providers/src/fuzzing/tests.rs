//! The fuzz targets on stable, as CI runs them: random inputs (structured,
//! and raw or structured by their first byte; a bounded number of cases so
//! each test takes seconds in a debug build), every seed of the corpus,
//! and the inputs of the defects the fuzzer found.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A structured input: an odd first byte, then random choices.
fn structured(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), vec(any::<u8>(), 0..max)).prop_map(|(first, mut rest)| {
        rest.insert(0, first | 1);
        rest
    })
}

/// Any input: raw or structured by its first byte.
fn any_input(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

macro_rules! random_tests {
    ($($name:ident => $target:ident, $cases:expr, $max:expr;)*) => {
        $(
            proptest! {
                #![proptest_config(config($cases))]
                #[test]
                fn $name(structured in structured($max), any in any_input($max)) {
                    $target(&structured);
                    $target(&any);
                }
            }
        )*
    };
}

random_tests! {
    sse_decoder_random => sse_decoder, 256, 1024;
    bedrock_frames_random => bedrock_frames, 128, 1024;
    stream_openai_random => stream_openai, 128, 1024;
    stream_anthropic_random => stream_anthropic, 128, 1024;
    stream_responses_random => stream_responses, 128, 1024;
    stream_gemini_random => stream_gemini, 128, 1024;
    stream_bedrock_random => stream_bedrock, 128, 1024;
    request_chat_random => request_chat, 64, 1024;
    request_messages_random => request_messages, 32, 1024;
    request_responses_random => request_responses, 32, 1024;
    credential_random => credential, 256, 512;
    sanitize_random => sanitize, 512, 512;
    passthrough_usage_random => passthrough_usage, 128, 1024;
    answers_random => answers, 256, 1024;
}

/// Every seed of `fuzz/corpus` (the recorded fixtures) through its target.
#[test]
fn every_seed() {
    let seeds = seeds();
    for (name, target) in TARGETS {
        let mine: Vec<_> = seeds.iter().filter(|(t, ..)| t == name).collect();
        assert!(!mine.is_empty(), "{name} has seeds");
        for (_, file, bytes) in mine {
            eprintln!("{name}/{file}");
            target(bytes);
        }
    }
}

/// The inputs of the defects fuzzing found, kept in the corpus as
/// `fuzz/corpus/<target>/regress-*`, through their targets.
#[test]
fn every_regression() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut ran = 0;
    for (name, target) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            let regress = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("regress-"));
            if regress {
                eprintln!("{}", path.display());
                target(&std::fs::read(&path)?);
                ran += 1;
            }
        }
    }
    assert!(ran >= 5, "the regression inputs are in fuzz/corpus ({ran})");
    Ok(())
}

/// Writes the seed corpus into the repository's `fuzz/corpus/<target>/`
/// (`cargo test -p byok-providers write_seed_corpus -- --ignored`), after
/// removing the `seed-*` files already there.
#[test]
#[ignore = "writes fuzz/corpus; run by hand when the fixtures change"]
fn write_seed_corpus() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, _) in TARGETS {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
            {
                std::fs::remove_file(path)?;
            }
        }
    }
    for (target, file, bytes) in seeds() {
        std::fs::write(root.join(target).join(file), bytes)?;
    }
    Ok(())
}

/// Runs one input through one target on stable, e.g. a crash libFuzzer
/// saved: `FUZZ_TARGET=stream_openai FUZZ_INPUT=fuzz/artifacts/stream_openai/crash-…
/// cargo test -p byok-providers --lib fuzzing::tests::repro -- --ignored --nocapture`.
#[test]
#[ignore = "runs the input named by FUZZ_TARGET and FUZZ_INPUT"]
fn repro() -> std::io::Result<()> {
    let name = std::env::var("FUZZ_TARGET").unwrap_or_default();
    let bytes = std::fs::read(std::env::var("FUZZ_INPUT").unwrap_or_default())?;
    let (_, target) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| std::io::Error::other(format!("no target {name:?}")))?;
    target(&bytes);
    Ok(())
}
