#!/usr/bin/env python3
"""Build cost of the attributes: a generated crate of 200 operations over 20 modules,
built with `#[lmms::module]` / `#[lmms::operation]` and again with the attributes removed
(same functions, same types). Dependencies are built first; then each crate's own build
(`cargo build`, dev profile, after touching its source) is timed, alternating, N times.

Usage: python3 benches/build_cost.py [N] [OPERATIONS]"""
import os, statistics, subprocess, sys, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5
OPS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
MODULES = 20
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORK = os.path.join(ROOT, "target", "build-cost")


def source(attributes: bool) -> str:
    out = ["#![allow(dead_code)]", "use std::convert::Infallible;"]
    for m in range(MODULES):
        if attributes:
            out.append(f'#[lmms::module(name = "m{m}")]')
        out.append(f"pub struct State{m} {{ pub table: Vec<u64> }}")
        out.append(
            f"impl lmms::Load for State{m} {{ type Error = Infallible; "
            f"fn load() -> Result<Self, Infallible> {{ Ok(State{m} {{ table: vec![{m}; 64] }}) }} }}"
        )
    for o in range(OPS):
        m = o % MODULES
        if attributes:
            ttl = ', cache_ttl = "5m"' if o % 4 == 0 else ""
            out.append(f'#[lmms::operation(interface = "i{m}", name = "op{o}"{ttl})]')
        out.append(
            f"pub fn op{o}(state: &State{m}, x: u64, label: String) -> u64 "
            f"{{ state.table[(x as usize) % 64] + label.len() as u64 + {o} }}"
        )
    return "\n".join(out) + "\n"


def crate(name: str, attributes: bool) -> str:
    path = os.path.join(WORK, name)
    os.makedirs(os.path.join(path, "src"), exist_ok=True)
    with open(os.path.join(path, "Cargo.toml"), "w") as f:
        f.write(
            f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2021"\n\n'
            f'[dependencies]\nlmms = {{ path = "{ROOT}" }}\n\n[workspace]\n'
        )
    with open(os.path.join(path, "src", "lib.rs"), "w") as f:
        f.write(source(attributes))
    return path


def build(path: str) -> float:
    os.utime(os.path.join(path, "src", "lib.rs"))
    start = time.perf_counter()
    subprocess.run(
        ["cargo", "build", "-q", "--target-dir", os.path.join(WORK, "target")],
        cwd=path, check=True,
    )
    return time.perf_counter() - start


crates = {"with": crate("with_lmms", True), "without": crate("without_lmms", False)}
for path in crates.values():
    build(path)  # dependencies, and a first build
times = {name: [] for name in crates}
for _ in range(N):
    for name, path in crates.items():
        times[name].append(build(path))
for name, samples in times.items():
    print(f"{name:8} {OPS} operations: median {statistics.median(samples):.3f} s "
          f"(min {min(samples):.3f}, max {max(samples):.3f})")
ratio = statistics.median(times["with"]) / statistics.median(times["without"])
print(f"with lmms / without: {ratio:.2f}x over {N} alternating builds each")
