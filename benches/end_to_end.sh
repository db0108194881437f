#!/usr/bin/env bash
# The end-to-end figures of BENCHMARKS.md, in one run (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== the main job: smart_home, four scenarios, eager vs lmms"
cargo run -q --release -p lmms-examples --example smart_home
echo "== cold start as a process (100 launches each)"
cargo run -q --release -p lmms-examples --example coldstart
echo "== memory over time: a burst, then idle"
cargo run -q --release -p lmms-examples --example memory_lifecycle
echo "== 100 MB unloaded"
cargo run -q --release -p lmms-examples --example unload_memory
echo "== start-up of declared, unused modules"
cargo build -q --release -p lmms-examples --examples && python3 benches/startup.py 200
echo "== build cost: 200 operations, the build script on 1,000, clean and incremental builds of 1,000"
python3 benches/build_cost.py 5 200
python3 benches/build_cost.py --registry 20
python3 benches/build_cost.py --large 3
echo "== the memory budget over a request replay"
cargo run -q --release -p lmms-examples --example budget_replay
echo "== the Lambda function: cold starts through the emulator, lmms vs eager vs lazy, and run()'s own cost (needs cargo-lambda and moto)"
(cd examples/lambda && cargo build -q --release --bins) && python3 examples/lambda/tests/coldstart.py 21
echo "== four invocations at once ÷ one at a time, and the peak against the budget (root: a cgroup)"
python3 examples/lambda/tests/concurrency.py --figures
echo "== the Lambda adapter's cost per invocation"
cargo bench -q -p lmms-lambda --bench adapter
echo "== a real trace: the Azure Functions 2019 sample under seven unload policies"
cargo run -q --release -p lmms-replay -- data/azure2019-100
