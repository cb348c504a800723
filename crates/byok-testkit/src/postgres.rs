//! The PostgreSQL the test suites run against: the server of
//! `BYOK_TEST_DATABASE_URL` (`scripts/postgres start` prints one; `.ci/run`
//! starts it), a schema of its own per test, and one way to skip.
//!
//! Without the variable a suite says so loudly and passes; under CI, which
//! always starts PostgreSQL, it fails instead.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test server.
pub const DATABASE_URL_VAR: &str = "BYOK_TEST_DATABASE_URL";

/// The test server's URL; `None` after a SKIP banner naming `suite` when
/// it is not set.
///
/// # Panics
/// Under CI when it is not set: the suite must run there.
pub fn test_database_url(suite: &str) -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                !crate::ci(),
                "CI is set but {DATABASE_URL_VAR} is not: the {suite} must run in CI (.ci/run starts PostgreSQL)"
            );
            static ONCE: Once = Once::new();
            ONCE.call_once(|| {
                crate::skipped(&format!(
                    "\n!!! SKIP: the {suite} did not run: {DATABASE_URL_VAR} is not set \
                     (`scripts/postgres start` prints one) !!!\n"
                ));
            });
            None
        }
    }
}

/// A schema name no other test of any process uses: `prefix`, the process
/// id, a counter and the clock's nanoseconds.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with `search_path` set to `schema` (so every table a store creates
/// lands there) and `schema` as the connections' `application_name` (to
/// find them in `pg_stat_activity`); both URL forms.
pub fn in_schema(url: &str, schema: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}")
    } else {
        format!("{url} options='-c search_path={schema}' application_name={schema}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_unique_and_urls_point_into_them() {
        let (a, b) = (unique_schema("t"), unique_schema("t"));
        assert_ne!(a, b);
        assert!(a.starts_with("t_"));
        assert_eq!(
            in_schema("postgres://u@h/db", "s"),
            "postgres://u@h/db?options=-c%20search_path%3Ds&application_name=s"
        );
        assert_eq!(
            in_schema("postgres://u@h/db?sslmode=disable", "s"),
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Ds&application_name=s"
        );
        assert_eq!(
            in_schema("host=h user=u", "s"),
            "host=h user=u options='-c search_path=s' application_name=s"
        );
    }
}
