#!/usr/bin/env python3
"""Start-up cost of declaring modules: `startup` (50 modules declared, none used) against
`empty` (an empty main), launched alternately. Wall time is measured around each launch;
peak RSS is `/usr/bin/time`'s (%M), since a child forked from Python would inherit the
interpreter's RSS high-water mark. Usage:
    cargo build --release -p lmms-examples --examples && python3 benches/startup.py [N]"""
import os, statistics, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BINS = {name: os.path.join("target", "release", "examples", name) for name in ("empty", "startup")}
samples = {name: ([], []) for name in BINS}

for _ in range(N):
    for name, path in BINS.items():
        with tempfile.NamedTemporaryFile("r") as out:
            start = time.perf_counter()
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, path], check=True,
                           stdout=subprocess.DEVNULL)
            elapsed = time.perf_counter() - start
            peak = int(out.read().split()[-1])
        samples[name][0].append(elapsed * 1e6)
        samples[name][1].append(peak)

def q(values, p):
    return sorted(values)[int(p * (len(values) - 1))]

for name, (wall, rss) in samples.items():
    print(f"{name:8} wall median {statistics.median(wall):8.1f} us (p10 {q(wall, .1):7.1f}, p90 {q(wall, .9):7.1f}); "
          f"peak RSS median {statistics.median(rss):6.0f} KiB (min {min(rss)}, max {max(rss)})")
ratio_wall = statistics.median(samples["startup"][0]) / statistics.median(samples["empty"][0])
ratio_rss = statistics.median(samples["startup"][1]) / statistics.median(samples["empty"][1])
print(f"startup / empty: wall {ratio_wall:.3f}x, peak RSS {ratio_rss:.3f}x over {N} alternating launches each")
