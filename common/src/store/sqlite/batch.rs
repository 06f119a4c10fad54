//! Group commit: a thread runs a burst of quick decisions inside one write transaction on one
//! connection (see [`Store::batch`](crate::store::Store::batch)).
//!
//! While a batch is open, every call the batching thread makes on the store uses the batch's
//! connection (a thread-local slot), and each store method runs inside the batch's transaction:
//! its reads see the batch's earlier writes. Other threads are not affected; they use the pool
//! and queue on the write lock like any other writer.
//!
//! A failed statement drops the connection (as outside a batch), and a method that wrote but did
//! not commit poisons the batch: either aborts it. The rest of it gets
//! [`StoreError::Aborted`](crate::store::StoreError::Aborted) and nothing of it is committed.

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;

/// Tells stores apart in the thread-local slot.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_store_id() -> u64 {
    NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed)
}

struct Open {
    store: u64,
    slot: Slot,
}

/// Where the batch's connection is.
enum Slot {
    Here(Connection),
    /// A store method has it; `poisoned`: that method wrote and then did not commit, so the
    /// batch must not be committed (the connection is dropped when it comes back).
    Lent {
        poisoned: bool,
    },
    /// A failure dropped it (which rolled the batch back); the rest of the batch is refused.
    Aborted,
}

thread_local! {
    static BATCH: RefCell<Option<Open>> = const { RefCell::new(None) };
}

/// Is this thread inside a batch, and is it on `store`?
pub(super) fn active(store: u64) -> Option<bool> {
    BATCH.with(|b| b.borrow().as_ref().map(|o| o.store == store))
}

/// Run `f` on this thread's batch slot when the batch is on `store`.
fn with_slot<T>(store: u64, f: impl FnOnce(&mut Slot) -> T) -> Option<T> {
    BATCH.with(|b| {
        b.borrow_mut()
            .as_mut()
            .filter(|o| o.store == store)
            .map(|o| f(&mut o.slot))
    })
}

/// The batch's connection, when this thread has a batch open on `store`: `Some(Err(()))` when
/// it is not available (aborted by an earlier failure, or lent already).
pub(super) fn lend(store: u64) -> Option<Result<Connection, ()>> {
    with_slot(store, |slot| {
        match std::mem::replace(slot, Slot::Lent { poisoned: false }) {
            Slot::Here(c) => Ok(c),
            other => {
                *slot = other;
                Err(())
            }
        }
    })
}

/// Return a connection lent by [`lend`]; gives it back to the caller when it is not the batch's.
pub(super) fn give_back(store: u64, conn: Connection) -> Result<(), Connection> {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(open) = b.as_mut().filter(|o| o.store == store) else {
            return Err(conn);
        };
        match open.slot {
            Slot::Lent { poisoned: false } => open.slot = Slot::Here(conn),
            // Dropping the connection rolls the batch back.
            Slot::Lent { poisoned: true } => open.slot = Slot::Aborted,
            Slot::Here(_) | Slot::Aborted => return Err(conn),
        }
        Ok(())
    })
}

/// Forget a lent connection that failed: the batch is aborted.
pub(super) fn lost(store: u64) {
    with_slot(store, |slot| *slot = Slot::Aborted);
}

/// A method of the open batch wrote and then failed: abort the batch.
fn poison() {
    BATCH.with(|b| {
        if let Some(open) = b.borrow_mut().as_mut() {
            open.slot = match std::mem::replace(&mut open.slot, Slot::Aborted) {
                Slot::Lent { .. } => Slot::Lent { poisoned: true },
                Slot::Here(_) | Slot::Aborted => Slot::Aborted,
            };
        }
    })
}

/// The open batch; closing (or dropping, on a panic) empties the thread-local slot.
pub(super) struct Guard {
    store: u64,
}

impl Guard {
    /// Open a batch on `conn`, which is inside `BEGIN IMMEDIATE`.
    pub(super) fn open(store: u64, conn: Connection) -> Guard {
        BATCH.with(|b| {
            *b.borrow_mut() = Some(Open {
                store,
                slot: Slot::Here(conn),
            })
        });
        Guard { store }
    }

    /// End the batch: its connection, or `None` when a failure aborted it (the connection,
    /// dropped, rolls the batch back).
    pub(super) fn close(self) -> Option<Connection> {
        let conn = BATCH.with(|b| match b.borrow_mut().take() {
            Some(Open {
                slot: Slot::Here(c),
                ..
            }) => Some(c),
            _ => None,
        });
        std::mem::forget(self);
        conn
    }
}

impl Drop for Guard {
    /// A panic inside the batch: the connection is closed, which rolls the batch back.
    fn drop(&mut self) {
        BATCH.with(|b| {
            let mut b = b.borrow_mut();
            if b.as_ref().is_some_and(|o| o.store == self.store) {
                *b = None;
            }
        });
    }
}

/// A store method's transaction: a real one outside a batch. Inside one, the method runs in the
/// batch's transaction as it is (no savepoint: a savepoint copies every page it touches to a
/// sub-journal, which cost a quarter of a batched login), so a method that wrote and then failed
/// cannot be undone alone: dropping such a `Tx` without [`Tx::commit`] aborts the whole batch.
pub(super) struct Tx<'c> {
    conn: &'c Connection,
    /// Inside a batch: the connection's change count when the method began.
    in_batch: Option<u64>,
    done: bool,
}

impl<'c> Tx<'c> {
    /// `immediate`: take the write lock now (for a read-modify-write), so that concurrent
    /// writers queue on the busy timeout instead of failing on a lock upgrade.
    pub(super) fn begin(conn: &'c Connection, immediate: bool) -> rusqlite::Result<Tx<'c>> {
        if !conn.is_autocommit() {
            return Ok(Tx {
                conn,
                in_batch: Some(conn.total_changes()),
                done: false,
            });
        }
        let sql = if immediate {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        conn.prepare_cached(sql)?.execute([])?;
        Ok(Tx {
            conn,
            in_batch: None,
            done: false,
        })
    }

    pub(super) fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        if self.in_batch.is_none() {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.in_batch {
            None => {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            // Read, or decided not to write: nothing to undo.
            Some(changes) if changes == self.conn.total_changes() => {}
            Some(_) => poison(),
        }
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}
