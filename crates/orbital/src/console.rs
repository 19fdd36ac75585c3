//! Writing to stdout and stderr without dying of it.
//!
//! `println!` and `eprintln!` panic when the write fails ("failed printing
//! to stderr", exit 101): a pipe whose reader has exited (EPIPE — the
//! `orbital lab up` that started a daemon, `orbital ... | head`), a closed
//! descriptor, a full disk. A daemon must never die because its log reader
//! went away, and a command piped into `head` has nothing left to say
//! anyway, so every line the binaries print goes through the macros here,
//! which drop a failed write instead.
//!
//! Rust already ignores SIGPIPE (a write to a broken pipe returns EPIPE
//! rather than killing the process); these macros make EPIPE harmless too.
//! Nothing else changes: the command goes on and exits as it would have, so
//! no clean-up (a daemon's drain, a lab's `iperf3` server) is skipped.

use std::fmt;
use std::io::Write as _;

/// Write `args` to stdout; a failed write is dropped (see the module docs).
pub fn out(args: fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Write `args` to stderr; a failed write is dropped (see the module docs).
pub fn err(args: fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!` that never panics: a failed write to stdout is dropped.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::console::out(format_args!($($arg)*))
    };
}

/// `println!` that never panics: a failed write to stdout is dropped.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::console::out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: a failed write to stderr is dropped.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::console::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
