//! The `orbital` command: the operator's entry point to the data plane.
//!
//! Subcommands live one per module so each reads on its own:
//! [`inspect`] shows how the parser sees a capture.
#![forbid(unsafe_code)]

pub mod inspect;
