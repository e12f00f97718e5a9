//! The former home of start-up and the live state, now in [`crate::service`]; these names are kept
//! for callers not yet moved.

pub use crate::service::*;
