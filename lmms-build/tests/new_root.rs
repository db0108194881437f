//! A crate's shape changing under Cargo: a `src/main.rs` added to a crate that had only
//! `src/lib.rs`. Cargo does not rerun a build script when a file appears, so the registry
//! it wrote does not list the new file's operations; the build must say so and what to do,
//! not compile a binary whose every call by name fails.
//!
//! This runs Cargo on a crate in a temporary directory; its target directory is kept
//! (`CARGO_TARGET_TMPDIR`), so only the first run builds lmms.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MANIFEST: &str = r#"[package]
name = "lmms-new-root"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
lmms = { path = "ROOT" }

[build-dependencies]
lmms-build = { path = "ROOT/lmms-build" }
"#;

const BUILD: &str = "fn main() {\n    lmms_build::generate().unwrap();\n}\n";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn build(dir: &Path) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(["build", "--quiet", "--message-format=short"])
        .current_dir(dir)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-root"),
        )
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_main_rs_added_later_is_an_error_until_the_build_script_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let root = workspace();
    let path = |file: &str| dir.path().join(file);
    std::fs::create_dir_all(path("src")).unwrap();
    let manifest = MANIFEST.replace("ROOT", &root.display().to_string().replace('\\', "/"));
    std::fs::write(path("Cargo.toml"), manifest).unwrap();
    // The workspace's versions, so the crate builds from what is already downloaded.
    std::fs::copy(root.join("Cargo.lock"), path("Cargo.lock")).unwrap();
    std::fs::write(path("build.rs"), BUILD).unwrap();
    std::fs::write(
        path("src/lib.rs"),
        "#[lmms::operation]\npub fn ping() -> u8 {\n    1\n}\n",
    )
    .unwrap();
    let first = build(dir.path());
    assert!(first.status.success(), "{}", stderr(&first));

    std::fs::write(
        path("src/main.rs"),
        "#[lmms::operation]\nfn pong() -> u8 {\n    2\n}\n\nfn main() {\n    lmms_new_root::ping::call().unwrap();\n}\n",
    )
    .unwrap();
    let stale = build(dir.path());
    assert!(
        !stale.status.success(),
        "the new file's operation is not in the registry"
    );
    let message = stderr(&stale);
    assert!(
        message.contains("src/main.rs:1:1: error: the build script has not read `src/main.rs`"),
        "{message}"
    );
    assert!(message.contains("touch build.rs"), "{message}");
    assert_eq!(
        message.matches("error: the build script").count(),
        1,
        "{message}"
    );

    // What the error says to do: the build script reruns, reads `src/main.rs`, and the
    // crate builds.
    std::fs::write(path("build.rs"), BUILD).unwrap();
    let rerun = build(dir.path());
    assert!(rerun.status.success(), "{}", stderr(&rerun));
}
