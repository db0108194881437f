#!/usr/bin/env bash
# The runtime's source files an async get of an unloaded module passes through (issue 31's
# figure): one `get_async` of a module never loaded, under a memory budget, run under
# callgrind with collection on inside `get_async` only; every file of `lmms-runtime/src`
# with a function that ran there (a debug build, so nothing is inlined away).
#
#   bash benches/callpath.sh [LMMS_REPO]   # default: this checkout
#   CALLPATH_ADAPTIVE=lmms::tuning::Adaptive bash benches/callpath.sh   # with the adaptive
#                                      keep-alive (its path in that checkout's API)
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=${CALLPATH_DIR:-$repo/target/callpath}
mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<TOML
[package]
name = "callpath"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lmms = { path = "$repo" }
tokio = { version = "1", features = ["rt"] }

[workspace]
TOML
if [ -n "${CALLPATH_ADAPTIVE:-}" ]; then
  adaptive=".adaptive(${CALLPATH_ADAPTIVE}::default())"
else
  adaptive=""
fi
cat >"$work/src/main.rs" <<RUST
use lmms::{AsyncLoad, ModuleCell, ModuleDef, Runtime};

struct Model {
    weights: Vec<u8>,
}

impl AsyncLoad for Model {
    type Error = std::convert::Infallible;
    async fn load() -> Result<Self, Self::Error> {
        Ok(Model { weights: vec![1; 4096] })
    }
}

static MODEL: ModuleCell<Model> = ModuleCell::new(ModuleDef::new("model"));

#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

fn main() {
    let runtime = Runtime::builder().memory_budget(1 << 30)$adaptive.build().unwrap();
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    runtime.add(&MODEL).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let len = tokio.block_on(async { MODEL.get_async().await.unwrap().weights.len() });
    assert_eq!(len, 4096);
}
RUST
cargo build --quiet --manifest-path "$work/Cargo.toml" --target-dir "$work/target"
out="$work/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*get_async*' \
  "$work/target/debug/callpath" >/dev/null 2>"$work/valgrind.log" \
  || { cat "$work/valgrind.log" >&2; exit 1; }
# `fl=`, `fi=`, `fe=` and `cfl=`, `cfi=` name a function's file (compressed: `(N) path` the first time).
grep -E '^c?f[lie]=' "$out" | sed -E 's/^c?f[lie]=\([0-9]+\) ?//' | grep -E 'lmms-runtime/src/' \
  | sed -E 's#.*lmms-runtime/src/##' | sort -u >"$work/files.txt"
cat "$work/files.txt"
echo "$(wc -l <"$work/files.txt") files"
