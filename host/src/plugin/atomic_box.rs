//! One box that threads hand to each other with one atomic instruction each
//! way (a swap to take it, a compare-exchange to put it back): the pool's
//! first idle instance lives here, so a warm call takes it and puts it back
//! without the bookkeeping of a queue.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// An empty or full place for one `Box<T>`, shared between threads.
pub(crate) struct AtomicBox<T> {
    ptr: AtomicPtr<T>,
}

#[expect(
    unsafe_code,
    reason = "a non-null pointer in the cell is always one `Box::into_raw` made, and a swap \
              hands it to exactly one owner"
)]
impl<T> AtomicBox<T> {
    pub fn empty() -> Self {
        Self { ptr: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Takes the box out, leaving the place empty.
    #[inline]
    pub fn take(&self) -> Option<Box<T>> {
        // SeqCst: the pool orders this against its count of waiters.
        let taken = self.ptr.swap(ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: a non-null pointer here came from `Box::into_raw` in
        // `put`, and the swap removed it, so this is its only owner now.
        (!taken.is_null()).then(|| unsafe { Box::from_raw(taken) })
    }

    /// Puts `value` in if the place is empty; gives it back if not.
    #[inline]
    pub fn put(&self, value: Box<T>) -> Result<(), Box<T>> {
        let raw = Box::into_raw(value);
        // SeqCst, as in `take`.
        match self.ptr.compare_exchange(ptr::null_mut(), raw, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Ok(()),
            // SAFETY: `raw` came from `Box::into_raw` just above and was not
            // stored, so this is still its only owner.
            Err(_) => Err(unsafe { Box::from_raw(raw) }),
        }
    }

    /// Whether the place holds a box now.
    pub fn is_full(&self) -> bool {
        !self.ptr.load(Ordering::Relaxed).is_null()
    }
}

impl<T> Drop for AtomicBox<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

// A shared `AtomicBox<T>` moves a `T` between threads, and gives no access
// to the `T` it holds: `AtomicPtr` is `Send + Sync` for every `T`, so these
// bounds are what keeps a `!Send` value on its own thread.
#[expect(unsafe_code, reason = "only moves of a `T: Send` cross threads")]
// SAFETY: the box is only ever moved whole, never shared.
unsafe impl<T: Send> Send for AtomicBox<T> {}
#[expect(unsafe_code, reason = "only moves of a `T: Send` cross threads")]
// SAFETY: `&AtomicBox<T>` only lets a thread move a `T` in or out.
unsafe impl<T: Send> Sync for AtomicBox<T> {}

impl<T> std::fmt::Debug for AtomicBox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicBox").field("full", &self.is_full()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its drops, to show no value is lost or dropped twice.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn take_and_put_hand_over_the_one_value() {
        let cell = AtomicBox::empty();
        assert!(cell.take().is_none());
        assert!(cell.put(Box::new(1)).is_ok());
        assert!(cell.is_full());
        assert_eq!(cell.put(Box::new(2)).err().as_deref(), Some(&2));
        assert_eq!(cell.take().as_deref(), Some(&1));
        assert!(!cell.is_full());
    }

    #[test]
    fn every_value_is_dropped_once_across_threads() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(AtomicBox::empty());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (cell, drops) = (cell.clone(), drops.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let held = cell.take();
                        if let Err(refused) = cell.put(Box::new(Counted(drops.clone()))) {
                            drop(refused);
                        }
                        drop(held);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|thread| thread.join().unwrap());
        drop(Arc::into_inner(cell).unwrap());
        assert_eq!(drops.load(Ordering::SeqCst), 40_000);
    }
}
