//! A call into a plugin's instance, held inside its limits: the deadline
//! that stops it (`deadline`: the ticker, the arming, the backstop) and a
//! failure turned into an [`Error`](crate::Error) (`trap`).
//!
//! Uses `store` and the layers below it.

pub(crate) mod deadline;
pub(crate) mod trap;
