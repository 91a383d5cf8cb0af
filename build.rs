//! Records the git commit the binary is built from, for `gatehouse --version`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    // Not `GATEHOUSE_*`: cargo also puts this variable in the environment of tests, and the
    // binaries they start would take it for configuration.
    println!("cargo:rustc-env=BUILT_FROM_COMMIT={commit}");
    // A new commit moves HEAD (or the branch it names); outside a checkout these never exist.
    for path in git_paths() {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// `.git/HEAD` and the ref it points at. In a worktree `.git` is a file naming the real dir.
fn git_paths() -> Vec<String> {
    let Some(dir) = git_dir() else {
        return Vec::new();
    };
    let head = format!("{dir}/HEAD");
    let mut out = vec![head.clone()];
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(reference) = text.trim().strip_prefix("ref: ")
    {
        let common = std::fs::read_to_string(format!("{dir}/commondir"))
            .map(|c| format!("{dir}/{}", c.trim()))
            .unwrap_or_else(|_| dir.clone());
        out.push(format!("{common}/{reference}"));
        out.push(format!("{common}/packed-refs"));
    }
    // A path that does not exist would make cargo rerun this script on every build.
    out.retain(|p| std::path::Path::new(p).exists());
    out
}

fn git_dir() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--absolute-git-dir"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
