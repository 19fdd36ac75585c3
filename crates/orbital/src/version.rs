//! What the binaries say they are: `orbital --version`, `orbctl --version`
//! and the `orbital_build_info` metric, so an operator can tell which build
//! runs (the revision comes from the build script, `build.rs`).

/// The release, from the workspace's `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision built (`git rev-parse --short HEAD`), or "unknown" when
/// built outside a git checkout without `ORBITAL_GIT_REVISION` set.
pub const REVISION: &str = env!("ORBITAL_GIT_REVISION");

/// `--version`'s text after the program name: `0.1.0 (rev 1a2b3c4)`.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (rev ",
    env!("ORBITAL_GIT_REVISION"),
    ")"
);
