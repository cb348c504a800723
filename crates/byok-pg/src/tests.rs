//! The pool, the migrations and the error classification against the test
//! server of `BYOK_TEST_DATABASE_URL` (each test in a schema of its own,
//! its connections named after it; without the variable a SKIP banner, a
//! failure under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use byok_testkit::postgres as pg;
use postgres::{Client, NoTls};

use super::*;

/// A schema of the test server, dropped afterwards; the pools' connections
/// carry its name as their `application_name`.
struct Db {
    admin: String,
    schema: String,
    url: String,
}

impl Db {
    fn new() -> Option<Self> {
        let admin = pg::test_database_url("byok-pg suite")?;
        let schema = pg::unique_schema("byok_pg_test");
        let url = pg::in_schema(&admin, &schema);
        Some(Self { admin, schema, url })
    }

    fn admin(&self) -> Client {
        Client::connect(&self.admin, NoTls).unwrap()
    }

    fn config(&self) -> postgres::Config {
        config(&self.url, "unused: the URL names it").unwrap()
    }

    fn pool(&self, max_open: usize) -> Pool<Client> {
        Pool::new(self.config(), None, max_open, None, "byok-pg-test-close")
    }

    /// The server's processes of this test's connections.
    fn backends(&self) -> i64 {
        self.admin()
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&self.schema],
            )
            .unwrap()
            .get(0)
    }

    /// Waits (5 s at most) for `n` backends: a closed connection's process
    /// ends a moment after the client said goodbye.
    fn wait_for_backends(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.backends() != n {
            assert!(
                Instant::now() < deadline,
                "{} backends, not {n}",
                self.backends()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends every connection of this test, as a server restart would.
    fn terminate(&self) {
        let ended: i64 = self
            .admin()
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&self.schema],
            )
            .unwrap()
            .get(0);
        assert!(ended > 0);
        self.wait_for_backends(0);
    }

    fn count(&self, sql: &str) -> i64 {
        self.admin().query_one(sql, &[]).unwrap().get(0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.admin, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

fn open_idle<C: Connection>(pool: &Pool<C>) -> (usize, usize) {
    let state = pool.lock();
    (state.open, state.idle.len())
}

#[test]
fn at_most_max_open_connections_and_a_caller_waits_for_one() {
    let Some(db) = Db::new() else { return };
    let pool = db.pool(2);
    let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
    assert_eq!(open_idle(&pool), (2, 0));
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let lease = pool.get().unwrap();
            tx.send(()).unwrap();
            pool.put(lease);
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "a third connection was given while two were leased"
        );
        pool.put(a);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    });
    pool.put(b);
    assert_eq!(open_idle(&pool), (2, 2));
    db.wait_for_backends(2);
    // A lease dropped instead of given back frees its place.
    let pool = db.pool(1);
    drop(pool.get().unwrap());
    assert_eq!(open_idle(&pool), (0, 0));
    pool.put(pool.get().unwrap());
    assert_eq!(open_idle(&pool), (1, 1));
}

#[test]
fn every_idle_connection_is_kept_unless_max_idle_says_otherwise() {
    let Some(db) = Db::new() else { return };
    let take_three = |pool: &Pool<Client>| {
        let leases: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        db.wait_for_backends(3);
        leases.into_iter().for_each(|l| pool.put(l));
    };
    let pool = db.pool(usize::MAX);
    take_three(&pool);
    assert_eq!(open_idle(&pool), (3, 3));
    db.wait_for_backends(3);
    drop(pool);
    // Closed by the pool's thread.
    db.wait_for_backends(0);

    let pool = db.pool(usize::MAX).max_idle(1);
    take_three(&pool);
    assert_eq!(open_idle(&pool), (1, 1));
    db.wait_for_backends(1);
    let pool = db.pool(usize::MAX).max_idle(0);
    pool.put(pool.get().unwrap());
    assert_eq!(open_idle(&pool), (0, 0));
}

#[test]
fn a_lost_connection_goes_with_the_idle_ones_and_run_runs_once_more() {
    let Some(db) = Db::new() else { return };
    let pool = db.pool(4);
    let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
    pool.put(a);
    pool.put(b);
    db.terminate();
    let calls = AtomicUsize::new(0);
    let one: i32 = pool
        .run(|c| {
            calls.fetch_add(1, Ordering::Relaxed);
            c.query_one("SELECT 1", &[])?.try_get(0)
        })
        .unwrap();
    assert_eq!((one, calls.load(Ordering::Relaxed)), (1, 2));
    // Both ended connections dropped, the new one kept.
    assert_eq!(open_idle(&pool), (1, 1));
    // Lost on the new connection too: the error, and nothing kept.
    db.terminate();
    let calls = AtomicUsize::new(0);
    let err = pool
        .run(|c| {
            calls.fetch_add(1, Ordering::Relaxed);
            let first = c.query_one("SELECT 1", &[]);
            // Ends the new connection as well (the ended one's query failed).
            db.admin()
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1",
                    &[&db.schema],
                )
                .unwrap();
            first.and_then(|_| c.query_one("SELECT pg_sleep(5)", &[]))
        })
        .unwrap_err();
    assert!(is_lost(&err), "{}", describe(&err));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(open_idle(&pool), (0, 0));
}

#[test]
fn an_idle_connection_is_checked_before_reuse_when_asked() {
    let Some(db) = Db::new() else { return };
    // Unchecked: the ended connection is given out, and fails.
    let pool = db.pool(4).check_idle_after(Duration::from_secs(3600));
    pool.put(pool.get().unwrap());
    db.terminate();
    let mut lease = pool.get().unwrap();
    let err = lease.conn.query_one("SELECT 1", &[]).unwrap_err();
    assert!(is_lost(&err), "{}", describe(&err));
    lease.lost = true;
    pool.put(lease);
    // Checked: replaced by a new one before the caller sees it.
    let pool = db.pool(4).check_idle_after(Duration::ZERO);
    pool.put(pool.get().unwrap());
    db.terminate();
    let mut lease = pool.get().unwrap();
    let one: i32 = lease.conn.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    pool.put(lease);
    assert_eq!(open_idle(&pool), (1, 1));
    // A live one passes the check and is reused.
    pool.put(pool.get().unwrap());
    assert_eq!(open_idle(&pool), (1, 1));
    db.wait_for_backends(1);
}

#[test]
fn the_session_runs_on_every_new_connection() {
    let Some(db) = Db::new() else { return };
    let show = |pool: &Pool<Client>| -> String {
        pool.run(|c| c.query_one("SHOW synchronous_commit", &[])?.try_get(0))
            .unwrap()
    };
    assert_eq!(show(&db.pool(1)), "on");
    let pool = Pool::<Client>::new(
        db.config(),
        None,
        2,
        Some("SET synchronous_commit = off".into()),
        "byok-pg-test-close",
    );
    let (mut a, mut b) = (pool.get().unwrap(), pool.get().unwrap());
    for lease in [&mut a, &mut b] {
        let value: String = lease
            .conn
            .query_one("SHOW synchronous_commit", &[])
            .unwrap()
            .get(0);
        assert_eq!(value, "off");
    }
    pool.put(a);
    pool.put(b);
    assert_eq!(show(&pool), "off");
}

/// A connection type of a store: prepares its statement when made.
struct Prepared {
    client: Client,
    one: postgres::Statement,
}

impl Connection for Prepared {
    fn new(mut client: Client) -> Result<Self, postgres::Error> {
        let one = client.prepare("SELECT $1::int + 1")?;
        Ok(Self { client, one })
    }

    fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

#[test]
fn a_store_connection_prepares_its_statements_once() {
    let Some(db) = Db::new() else { return };
    let first = Prepared::new(db.config().connect(NoTls).unwrap()).unwrap();
    let pool = Pool::new(db.config(), Some(first), 2, None, "byok-pg-test-close");
    assert_eq!(open_idle(&pool), (1, 1));
    for _ in 0..3 {
        let two: i32 = pool
            .run(|c| c.client.query_one(&c.one, &[&1_i32])?.try_get(0))
            .unwrap();
        assert_eq!(two, 2);
    }
    assert_eq!(open_idle(&pool), (1, 1));
    db.wait_for_backends(1);
}

const MIGRATIONS: &[(i32, &str)] = &[
    (1, "CREATE TABLE t (a INT)"),
    (2, "ALTER TABLE t ADD COLUMN b INT"),
];

#[test]
fn migrations_run_once_in_their_schema_and_a_newer_schema_is_refused() {
    let Some(db) = Db::new() else { return };
    // Four instances at once, the schema not there yet: made once, each
    // migration applied once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut c = db.config().connect(NoTls).unwrap();
                migrate_in(&mut c, Some(&db.schema), "test", MIGRATIONS).unwrap();
            });
        }
    });
    let in_schema = |table: &str| {
        db.count(&format!(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = '{}' AND table_name = '{table}'",
            db.schema
        ))
    };
    assert_eq!((in_schema("t"), in_schema("schema_migrations")), (1, 1));
    let rows = |component: &str| {
        db.count(&format!(
            "SELECT count(*) FROM {}.schema_migrations WHERE component = '{component}'",
            db.schema
        ))
    };
    assert_eq!(rows("test"), 2);
    let columns = db.count(&format!(
        "SELECT count(*) FROM information_schema.columns
         WHERE table_schema = '{}' AND table_name = 't'",
        db.schema
    ));
    assert_eq!(columns, 2);
    // Again, and another component beside it: nothing more for this one.
    let mut c = db.config().connect(NoTls).unwrap();
    migrate(&mut c, "test", MIGRATIONS).unwrap();
    migrate(&mut c, "other", &[(1, "CREATE TABLE u (a INT)")]).unwrap();
    assert_eq!((rows("test"), rows("other")), (2, 1));
    // A newer build's version: refused, nothing applied.
    c.execute(
        "INSERT INTO schema_migrations (component, version) VALUES ('test', 9)",
        &[],
    )
    .unwrap();
    let err = migrate(&mut c, "test", MIGRATIONS).unwrap_err();
    assert!(
        matches!(
            err,
            MigrateError::Newer {
                applied: 9,
                known: 2
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("newer than this build's 2"),
        "{err}"
    );
    // A failing migration applies nothing of its version.
    let err = migrate(
        &mut c,
        "broken",
        &[(1, "CREATE TABLE v (a INT)"), (2, "SELECT * FROM missing")],
    )
    .unwrap_err();
    assert!(matches!(err, MigrateError::Db(_)), "{err:?}");
    assert!(err.to_string().contains("42P01"), "{err}");
    assert_eq!((rows("broken"), in_schema("v")), (0, 0));
}

#[test]
fn errors_are_read_by_their_code_and_severity() {
    let Some(db) = Db::new() else { return };
    let mut c = db.config().connect(NoTls).unwrap();
    let mut raise = |code: &str| {
        c.batch_execute(&format!(
            "DO $$ BEGIN RAISE EXCEPTION 'raised {code}' USING ERRCODE = '{code}'; END $$"
        ))
        .unwrap_err()
    };
    // (code, conflict, lost)
    for (code, conflict, lost) in [
        ("40001", true, false),
        ("40P01", true, false),
        ("55P03", false, false),
        ("23505", false, false),
        ("57P01", false, true),
        ("08006", false, true),
    ] {
        let e = raise(code);
        assert_eq!(describe(&e), format!("raised {code} ({code})"));
        assert_eq!(is_conflict(&e), conflict, "{code}");
        assert_eq!(is_lost(&e), lost, "{code}");
        assert_eq!(is_retryable(&e), conflict || lost, "{code}");
    }
    // A closed connection: lost, and retryable.
    db.terminate();
    let e = c.query_one("SELECT 1", &[]).unwrap_err();
    assert!(
        is_lost(&e) && is_retryable(&e) && !is_conflict(&e),
        "{}",
        describe(&e)
    );
}

#[test]
fn a_malformed_url_is_refused_without_repeating_it() {
    let err = config("postgres://u:hunter2@h:notaport/db", "x").unwrap_err();
    assert!(!describe(&err).contains("hunter2"), "{}", describe(&err));
    let c = config("postgres://u@h/db", "byok-test").unwrap();
    assert_eq!(c.get_application_name(), Some("byok-test"));
    assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(10)));
    let c = config(
        "postgres://u@h/db?application_name=mine&connect_timeout=3",
        "x",
    )
    .unwrap();
    assert_eq!(c.get_application_name(), Some("mine"));
    assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
}
