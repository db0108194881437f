#!/usr/bin/env python3
"""The function of twelve modules under a real memory limit, as Lambda enforces it: its
process in a memory cgroup whose limit is the function's memory size
(`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), OOM-killed when it goes over. Three builds of the same
function (`src/twelve/`): eager (every module built in `main`), a `LazyLock` per module, and
lmms. Its modules hold 240 MiB together, 1.9 times the 128 MiB limit, built on the calling
thread, on tokio's blocking pool, on a helper thread and as small strings.

    python3 examples/lambda/tests/memory_limit.py             # the test: eager and LazyLock
                                                              # are killed, lmms answers all
    python3 examples/lambda/tests/memory_limit.py --smallest  # the smallest limit (16 MiB
                                                              # steps) at which each build
                                                              # serves the whole mix
    python3 examples/lambda/tests/memory_limit.py --advise    # lmms-advise's prediction
                                                              # against the cgroup

The function runs against `cargo lambda watch --only-lambda-apis` (the runtime API) and
every request goes through `cargo lambda invoke`. It needs root (it creates the cgroups, v2
`memory.max` or v1 `memory.limit_in_bytes`, and removes them), `cargo lambda` and
`moto_server`, and says at once which is missing. Every process it starts it stops;
everything listens on 127.0.0.1. Linux only.
"""

import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_env  # noqa: E402
from lambda_env import fail  # noqa: E402

LIMIT_MIB = 128
REQUESTS = 400
MODULES = 12
BUILDS = ("twelve-eager", "twelve-lazylock", "twelve")


def mix(requests=REQUESTS, seed=28):
    """Requests with locality: most use one of the three modules used last, some a module
    at random; three in ten use a second module too, held at once with the first. Each
    waits 10 to 40 ms on I/O besides, as a request to a database or an API does."""
    rng = random.Random(seed)
    recent = [0, 4, 8]
    out = []
    for _ in range(requests):
        first = rng.choice(recent) if rng.random() < 0.8 else rng.randrange(MODULES)
        used = [first]
        if rng.random() < 0.3:
            second = rng.randrange(MODULES)
            if second != first:
                used.append(second)
        for module in used:
            if module in recent:
                recent.remove(module)
            recent.insert(0, module)
        del recent[3:]
        out.append({"use": used, "key": rng.randrange(1 << 20), "work_ms": rng.randrange(10, 40)})
    return out


class Cgroup:
    """A memory cgroup of the machine's kind (v2 with the memory controller, else v1),
    created for one run and removed after it."""

    def __init__(self, name, limit_mib):
        limit = str(limit_mib << 20)
        v2 = "/sys/fs/cgroup"
        if os.path.exists(f"{v2}/cgroup.controllers") and "memory" in open(f"{v2}/cgroup.controllers").read().split():
            self.path = f"{v2}/{name}"
            self.version = 2
            # A child gets the memory controller only if its parent hands it down.
            control = f"{v2}/cgroup.subtree_control"
            if "memory" not in open(control).read().split():
                try:
                    with open(control, "w") as f:
                        f.write("+memory")
                except OSError as error:
                    fail(f"cannot enable the memory controller for child cgroups ({control}): {error}")
            self._make()
            self._write("memory.max", limit)
            self._write("memory.swap.max", "0", optional=True)
        elif os.path.isdir("/sys/fs/cgroup/memory"):
            self.path = f"/sys/fs/cgroup/memory/{name}"
            self.version = 1
            self._make()
            self._write("memory.limit_in_bytes", limit)
            self._write("memory.memsw.limit_in_bytes", limit, optional=True)
            self._write("memory.swappiness", "0", optional=True)
        else:
            fail("no memory cgroup here: neither cgroup v2 with the memory controller nor v1's memory hierarchy")

    def _make(self):
        try:
            os.mkdir(self.path)
        except PermissionError:
            fail(f"cannot create the cgroup {self.path}: run as root")
        except FileExistsError:
            pass

    def _write(self, name, value, optional=False):
        try:
            with open(f"{self.path}/{name}", "w") as f:
                f.write(value)
        except OSError as error:
            if not optional:
                self.remove()
                fail(f"cannot set {self.path}/{name} to {value}: {error}")

    def peak(self):
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            with open(f"{self.path}/{name}") as f:
                return int(f.read())
        except OSError:
            return None

    def procs(self):
        return f"{self.path}/cgroup.procs"

    def remove(self):
        """Removes the cgroup once its last process has left it: an OOM-killed one can take
        seconds to exit and give back its memory."""
        deadline = time.time() + 60
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError as error:
                if time.time() > deadline:
                    fail(f"cannot remove the cgroup {self.path}: {error}")
                if self.version == 1:
                    # Uncharges what the dead process left cached, so that v1 lets it go.
                    try:
                        with open(f"{self.path}/memory.force_empty", "w") as f:
                            f.write("0")
                    except OSError:
                        pass
                time.sleep(0.2)


def invoke(port, event, function):
    """`cargo lambda invoke`, unless the function process dies first: the response, or
    None if the function was killed."""
    args = ["cargo", "lambda", "invoke", "_", "--invoke-address", "127.0.0.1",
            "--invoke-port", str(port), "--data-ascii", json.dumps(event), "--output-format", "json"]
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while client.poll() is None:
        if function.poll() is not None or time.time() > deadline:
            client.kill()
            client.wait()
            return None
        time.sleep(0.005)
    out, err = client.communicate()
    if client.returncode != 0:
        return None if function.poll() is not None else fail(f"cargo lambda invoke {event}: {err}")
    return json.loads(out)


def run(services, build, limit_mib, requests, settings=None, dump=False):
    """Serves `requests` with `build` in a cgroup of `limit_mib`: how many it answered,
    whether it was killed, the cgroup's peak, and the lmms build's figures."""
    binary = os.path.join(lambda_env.release_dir(), build)
    if not os.path.exists(binary):
        fail(f"{binary} is not built: cargo build --release --bins in examples/lambda")
    group = Cgroup(f"lmms-test-{os.getpid()}-{build}-{limit_mib}", limit_mib)
    log = os.path.join(services.work, f"{build}-{limit_mib}.log")
    env = dict(os.environ, **services.function_env, **lambda_env.runtime_api_env(services))
    env.update(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(limit_mib), **(settings or {}))
    # Into the cgroup before it runs anything: the shell writes its pid, then becomes it.
    function = lambda_env.start(["sh", "-c", f'echo $$ > {group.procs()} && exec "$0"', binary], log, env=env)
    # The process's own memory once it waits for its first request: its anonymous pages
    # (heap, stacks), which a memory limit cannot reclaim, unlike its code's.
    time.sleep(0.5)
    baseline_anon = None
    try:
        with open(f"/proc/{function.pid}/status") as status:
            baseline_anon = next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) / 1024
    except (OSError, StopIteration):
        pass
    answered = 0
    handler_ms = []
    stats = None
    started = time.perf_counter()
    try:
        for event in requests:
            reply = invoke(services.invoke_port, event, function)
            if reply is None:
                break
            if "sum" not in reply:
                fail(f"{build}: {event} answered {reply}")
            answered += 1
            handler_ms.append(reply["ms"])
        seconds = time.perf_counter() - started
        if dump and function.poll() is None:
            stats = invoke(services.invoke_port, {"stats": True, "unload": True}, function)
        killed = function.poll() is not None
    finally:
        lambda_env.stop(function)
        peak = group.peak()
        group.remove()
    emf = [json.loads(line) for line in lambda_env.read(log).splitlines() if line.startswith("{") and '"_aws"' in line]
    startup = [line for line in lambda_env.read(log).splitlines() if line.startswith("lmms:")]
    return {
        "build": build, "limit_mib": limit_mib, "answered": answered, "killed": killed,
        "peak_mib": None if peak is None else peak / (1 << 20), "seconds": seconds,
        "loads": sum(line.get("Loads", 0) for line in emf),
        "budget_unloads": sum(line.get("BudgetUnloads", 0) for line in emf),
        "over_budget_loads": sum(line.get("OverBudgetLoads", 0) for line in emf),
        "startup": startup[0] if startup else None,
        "handler_ms": handler_ms,
        "baseline_anon_mib": baseline_anon,
        "loads_by_request": [line.get("Loads", 0) for line in emf],
        "stats": stats,
        # What Lambda bills: the memory size times the handlers' time.
        "gb_seconds": limit_mib / 1024 * sum(handler_ms) / 1000,
    }


def describe(result):
    peak = "n/a" if result["peak_mib"] is None else f"{result['peak_mib']:.1f} MiB"
    fate = "killed" if result["killed"] else "alive"
    extra = ""
    if result["build"] == "twelve":
        extra = f", {result['loads']} loads ({result['budget_unloads']} budget unloads, {result['over_budget_loads']} over budget)"
    return (f"{result['build']} in {result['limit_mib']} MiB: answered {result['answered']} of {REQUESTS}, "
            f"{fate}, peak {peak}, {result['gb_seconds']:.3f} GB-s{extra}")


def test(services):
    requests = mix()
    results = {build: run(services, build, LIMIT_MIB, requests) for build in BUILDS}
    for result in results.values():
        print(describe(result))
    eager, lazy, ours = results["twelve-eager"], results["twelve-lazylock"], results["twelve"]
    if not eager["killed"] or eager["answered"] > 0:
        fail(f"the eager build was not killed at start in {LIMIT_MIB} MiB: {eager}")
    if not lazy["killed"] or lazy["answered"] == REQUESTS:
        fail(f"the LazyLock build served the whole mix in {LIMIT_MIB} MiB: {lazy}")
    if ours["killed"] or ours["answered"] != REQUESTS:
        fail(f"lmms did not answer every request in {LIMIT_MIB} MiB: {ours}")
    if ours["peak_mib"] is not None and ours["peak_mib"] > LIMIT_MIB:
        fail(f"lmms's peak went over the limit: {ours}")
    if not (ours["startup"] or "").startswith("lmms: memory budget"):
        fail(f"lmms_lambda did not say its budget at start-up: {ours['startup']!r}")
    print(f"ok: eager killed at start, LazyLock killed at request {lazy['answered'] + 1}, "
          f"lmms answered all {REQUESTS} with a peak of {ours['peak_mib']:.1f} MiB under {LIMIT_MIB} MiB")
    print(f"ok: {ours['startup']}")


def smallest(services, build, requests, settings=None, low=32, high=320):
    """The smallest limit, in 16 MiB steps, at which `build` answers every request."""
    fits = None
    while low <= high:
        middle = (low + high) // 2 // 16 * 16
        result = run(services, build, middle, requests, settings)
        print(f"  {describe(result)}", flush=True)
        if result["answered"] == len(requests) and not result["killed"]:
            fits, high = result, middle - 16
        else:
            low = middle + 16
    return fits


def advise(services):
    """`lmms-advise`'s prediction from one unconstrained run (its stats dump and request
    log), checked against the cgroup: the smallest size, and the GB-seconds at it and at
    the test's 128 MiB."""
    import re
    import statistics
    requests = mix()
    free = run(services, "twelve", 1024, requests, dump=True)
    if free["answered"] != len(requests) or free["stats"] is None:
        fail(f"the unconstrained run did not serve the mix: {describe(free)}")
    work = services.work
    modules = os.path.join(work, "stats.json")
    with open(modules, "w") as f:
        json.dump(free["stats"], f)
    # A request's own time: its handler's, when it loaded nothing (the loads are the
    # advisor's to add); the median of those for the requests that loaded.
    quiet = [ms for ms, loads in zip(free["handler_ms"], free["loads_by_request"]) if loads == 0]
    typical = statistics.median(quiet)
    trace = os.path.join(work, "requests.jsonl")
    with open(trace, "w") as f:
        for event, ms, loads in zip(requests, free["handler_ms"], free["loads_by_request"]):
            f.write(json.dumps({"use": [f"m{i}" for i in event["use"]], "ms": ms if loads == 0 else typical}) + "\n")
    if free["baseline_anon_mib"] is None:
        fail("the function's anonymous memory at start could not be read")
    start_rss = re.search(r"after the process's (\d+) MiB at start", free["startup"] or "")
    if start_rss is None:
        fail(f"no resident set in the start-up line: {free['startup']!r}")
    repo = os.path.dirname(os.path.dirname(lambda_env.EXAMPLE))
    advised = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "-p", "lmms-replay", "--bin", "lmms-advise", "--",
         "--modules", modules, "--trace", trace, "--baseline-mib", f"{free['baseline_anon_mib']:.2f}",
         "--start-rss-mib", start_rss.group(1),
         "--from", "32", "--step", "16", "--max-extra-ms", "1e12", "--out", os.path.join(repo, "target", "lmms-advise")],
        capture_output=True, text=True, cwd=repo,
    )
    if advised.returncode != 0:
        fail(f"lmms-advise: {advised.stderr}")
    print(advised.stdout)
    rows = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^\| (\d+) MiB \|[^|]*\|[^|]*\|[^|]*\|[^|]*\| ([0-9.]+) \|", advised.stdout, re.M)}
    predicted = int(re.search(r"choose (\d+) MiB", advised.stdout).group(1))
    found = smallest(services, "twelve", requests)
    if found is None:
        fail("no limit served the mix")
    measured = found["limit_mib"]
    at_test = run(services, "twelve", LIMIT_MIB, requests)
    print(f"smallest size: predicted {predicted} MiB, measured {measured} MiB: {predicted / measured:.2f}")
    print(f"GB-s at {measured} MiB: predicted {rows.get(measured, float('nan')):.4f}, measured {found['gb_seconds']:.4f}: "
          f"{rows.get(measured, float('nan')) / found['gb_seconds']:.2f}")
    print(f"GB-s at {LIMIT_MIB} MiB: predicted {rows.get(LIMIT_MIB, float('nan')):.4f}, measured {at_test['gb_seconds']:.4f}: "
          f"{rows.get(LIMIT_MIB, float('nan')) / at_test['gb_seconds']:.2f}")
    print(f"loads at {LIMIT_MIB} MiB: measured {at_test['loads']}")


def main():
    with lambda_env.Services(watch_args=["--only-lambda-apis"]) as services:
        if "--advise" in sys.argv:
            advise(services)
        elif "--at" in sys.argv:
            # One build at one size: `--at twelve-lazylock 256`.
            at = sys.argv.index("--at")
            print(describe(run(services, sys.argv[at + 1], int(sys.argv[at + 2]), mix())))
        elif "--smallest" in sys.argv:
            requests = mix()
            for build, settings in [("twelve-eager", None), ("twelve-lazylock", None),
                                    ("twelve", None), ("twelve", {"LMMS_MAX_HOT_PATHS": "0"})]:
                found = smallest(services, build, requests, settings)
                label = build + (" (no hot paths)" if settings else "")
                print(f"smallest: {label}: {describe(found) if found else 'none up to the bound'}", flush=True)
        else:
            test(services)
    print("all checks passed")


if __name__ == "__main__":
    main()
