//! [`AsyncVault`]: the vault for async servers, runtime-agnostic.
//!
//! # The choice
//!
//! SQLite calls block (and every vault write ends in an `fsync`), so they must
//! not run on an async executor's worker threads. Rather than depend on one
//! runtime's `spawn_blocking`, the vault owns a small pool of dedicated OS
//! threads (default 2: SQLite in WAL mode serves readers beside the single
//! writer, and more threads would only queue on the write lock). Jobs go over
//! a bounded channel; answers come back on a `futures` oneshot, which works
//! under tokio, actix, smol or any other executor.
//!
//! The hot path does not hop threads at all: [`AsyncVault::get`] first looks
//! in the read cache and, on a hit, authenticates and decrypts inline (a
//! microsecond or two, no I/O). Only misses and writes go to the pool.
//!
//! A job that has started runs to completion even if its future is dropped,
//! so a cancelled request never leaves a half-done write (each write is one
//! transaction anyway).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use secrecy::{SecretSlice, SecretString};

use crate::error::VaultError;
use crate::vault::{KeyStatus, PutOptions, RewrapReport, SecretInfo, Vault};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Handle on the worker threads; they exit when the last handle is dropped
/// (the channel closes).
struct Workers {
    tx: crossbeam_channel::Sender<Job>,
}

/// An async front for [`Vault`]. Cheap to clone.
///
/// ```
/// use byok_vault::{AsyncVault, MasterKey, PutOptions, Vault, VaultConfig};
/// use secrecy::{ExposeSecret, SecretString};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let vault = Vault::open_sqlite(dir.path().join("v.db"), MasterKey::generate()?, VaultConfig::default())?;
/// let vault = AsyncVault::new(vault, 2)?;
/// // Any executor works; this example blocks on the futures by hand.
/// let info = block_on(vault.put("u1", "groq", SecretString::from("gsk_0123456789abcdefghij"), PutOptions::new()))?;
/// assert_eq!(info.last4.as_deref(), Some("ghij"));
/// let key = block_on(vault.get("u1", "groq"))?.expect("stored");
/// assert_eq!(key.expose_secret(), "gsk_0123456789abcdefghij");
/// # Ok(()) }
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     use std::sync::Arc;
/// #     struct T(std::thread::Thread);
/// #     impl Wake for T { fn wake(self: Arc<Self>) { self.0.unpark() } }
/// #     let waker = Waker::from(Arc::new(T(std::thread::current())));
/// #     let mut cx = Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } std::thread::park(); }
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncVault {
    vault: Vault,
    workers: Arc<Workers>,
}

impl std::fmt::Debug for AsyncVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncVault").finish_non_exhaustive()
    }
}

impl AsyncVault {
    /// Starts `threads` worker threads (at least 1) for `vault`.
    ///
    /// # Errors
    /// If the OS refuses to start a thread.
    pub fn new(vault: Vault, threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(1024);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("byok-vault-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // A panic in one job must not take the pool down.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Self {
            vault,
            workers: Arc::new(Workers { tx }),
        })
    }

    /// The blocking vault underneath, for code already off the executor.
    pub fn blocking(&self) -> &Vault {
        &self.vault
    }

    /// Runs `f` on a worker thread and awaits its result.
    ///
    /// # Errors
    /// [`VaultError::WorkerGone`] if the pool has shut down.
    pub async fn run<T, F>(&self, f: F) -> Result<T, VaultError>
    where
        T: Send + 'static,
        F: FnOnce(&Vault) -> T + Send + 'static,
    {
        let (done, answer) = futures_channel::oneshot::channel();
        let vault = self.vault.clone();
        let job: Job = Box::new(move || {
            let _ = done.send(f(&vault));
        });
        // `send` would block when 1024 jobs are queued; `try_send` keeps the
        // executor thread free and reports the overload instead.
        self.workers.tx.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => VaultError::Overloaded,
            crossbeam_channel::TrySendError::Disconnected(_) => VaultError::WorkerGone,
        })?;
        answer.await.map_err(|_| VaultError::WorkerGone)
    }

    /// [`Vault::get`]; a cache hit is answered inline without a thread hop.
    ///
    /// # Errors
    /// As [`Vault::get`].
    pub async fn get(&self, owner: &str, name: &str) -> Result<Option<SecretString>, VaultError> {
        if let Some(hit) = self.vault.get_cached(owner, name) {
            return hit.map(Some);
        }
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.run(move |v| v.get(&owner, &name)).await?
    }

    /// [`Vault::get_bytes`] on a worker thread.
    ///
    /// # Errors
    /// As [`Vault::get_bytes`].
    pub async fn get_bytes(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<SecretSlice<u8>>, VaultError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.run(move |v| v.get_bytes(&owner, &name)).await?
    }

    /// [`Vault::put`] on a worker thread; resolves after the commit.
    ///
    /// # Errors
    /// As [`Vault::put`].
    pub async fn put(
        &self,
        owner: &str,
        name: &str,
        secret: SecretString,
        options: PutOptions,
    ) -> Result<SecretInfo, VaultError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.run(move |v| v.put(&owner, &name, &secret, options))
            .await?
    }

    /// [`Vault::delete`] on a worker thread.
    ///
    /// # Errors
    /// As [`Vault::delete`].
    pub async fn delete(&self, owner: &str, name: &str) -> Result<bool, VaultError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.run(move |v| v.delete(&owner, &name)).await?
    }

    /// [`Vault::info`] on a worker thread.
    ///
    /// # Errors
    /// As [`Vault::info`].
    pub async fn info(&self, owner: &str, name: &str) -> Result<Option<SecretInfo>, VaultError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.run(move |v| v.info(&owner, &name)).await?
    }

    /// [`Vault::list`] on a worker thread.
    ///
    /// # Errors
    /// As [`Vault::list`].
    pub async fn list(&self, owner: &str) -> Result<Vec<SecretInfo>, VaultError> {
        let owner = owner.to_owned();
        self.run(move |v| v.list(&owner)).await?
    }

    /// [`Vault::rotate`] then [`Vault::rewrap`] on a worker thread.
    ///
    /// # Errors
    /// As those methods.
    pub async fn rotate_and_rewrap(
        &self,
        batch_size: usize,
    ) -> Result<(u32, RewrapReport), VaultError> {
        self.run(move |v| {
            let key = v.rotate()?;
            let report = v.rewrap(batch_size)?;
            Ok((key, report))
        })
        .await?
    }

    /// [`Vault::keys`] on a worker thread.
    ///
    /// # Errors
    /// As [`Vault::keys`].
    pub async fn keys(&self) -> Result<Vec<KeyStatus>, VaultError> {
        self.run(Vault::keys).await?
    }
}
