//! Holds the plugin value between calls, so plugins keep state in `&mut self`.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    // A component instance is single-threaded and the component model
    // forbids re-entering it, so a `RefCell` is never borrowed twice.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` on the plugin value, creating it with `Default` on first use.
pub fn with<T: Default + 'static, R>(f: impl FnOnce(&mut T) -> R) -> R {
    crate::logger::install();
    INSTANCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let value = slot.get_or_insert_with(|| Box::new(T::default()));
        let plugin =
            value.downcast_mut::<T>().expect("a component exports exactly one plugin type");
        f(plugin)
    })
}

/// Replaces the plugin value with a fresh `T::default()`.
pub(crate) fn reset<T: Default + 'static>() {
    INSTANCE.with(|cell| *cell.borrow_mut() = Some(Box::new(T::default())));
}

/// Drops the plugin value; the next call starts from a fresh one.
pub(crate) fn clear() {
    INSTANCE.with(|cell| cell.borrow_mut().take());
}
