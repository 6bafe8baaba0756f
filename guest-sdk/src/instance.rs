//! Holds the plugin value between calls, so plugins keep state in
//! `&mut self`: a typed thread-local that the export macro declares for the
//! plugin's own type, so no call downcasts anything.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Where an export macro keeps its plugin value.
pub type Slot<T> = LocalKey<RefCell<Option<T>>>;

/// Runs `f` on the plugin value in `slot`, creating it with `Default` on
/// first use.
pub fn with<T: Default, R>(slot: &'static Slot<T>, f: impl FnOnce(&mut T) -> R) -> R {
    crate::logger::install();
    // A component instance is single-threaded and the component model
    // forbids re-entering it, so the cell is never borrowed twice.
    slot.with(|cell| f(cell.borrow_mut().get_or_insert_with(T::default)))
}

/// Replaces the plugin value with a fresh `T::default()`.
pub(crate) fn reset<T: Default>(slot: &'static Slot<T>) {
    slot.with(|cell| *cell.borrow_mut() = Some(T::default()));
}

/// Drops the plugin value; the next call starts from a fresh one.
pub(crate) fn clear<T>(slot: &'static Slot<T>) {
    let value = slot.with(|cell| cell.borrow_mut().take());
    drop(value);
}
