//! Build script: the git revision the binaries report (`orbital --version`,
//! the `orbital_build_info` metric), as `ORBITAL_GIT_REVISION`.
//!
//! `ORBITAL_GIT_REVISION` from the build environment when set (a packager
//! building from a tarball knows it); else `git rev-parse --short HEAD`
//! when this is a git checkout with git installed; else "unknown". Never a
//! build failure: a revision is a label, not something to build from.

use std::path::PathBuf;
use std::process::Command;

/// `git ARGS` in this crate's directory, its trimmed stdout if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=ORBITAL_GIT_REVISION");
    // Rebuilt when HEAD moves: HEAD itself (a checkout), the branch it
    // names (a commit) and packed refs (after a gc). Paths from git, so a
    // worktree (whose .git is a file) works too.
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    {
        let path = PathBuf::from(path);
        let path = if path.is_absolute() {
            path
        } else {
            // git answers relative to the directory it ran in.
            PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join(path)
        };
        // A path that does not exist (no packed refs yet) would make cargo
        // rerun this script on every build.
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let revision = std::env::var("ORBITAL_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ORBITAL_GIT_REVISION={revision}");
}
