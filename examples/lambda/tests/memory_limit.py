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
    at random; three in ten use a second module too, held at once with the first."""
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
        out.append({"use": used, "key": rng.randrange(1 << 20)})
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
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)  # its last process is still exiting


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


def run(services, build, limit_mib, requests, settings=None):
    """Serves `requests` with `build` in a cgroup of `limit_mib`: how many it answered,
    whether it was killed, the cgroup's peak, and the lmms build's figures."""
    binary = os.path.join(lambda_env.EXAMPLE, "target", "release", build)
    if not os.path.exists(binary):
        fail(f"{binary} is not built: cargo build --release --bins in examples/lambda")
    group = Cgroup(f"lmms-test-{os.getpid()}-{build}-{limit_mib}", limit_mib)
    log = os.path.join(services.work, f"{build}-{limit_mib}.log")
    env = dict(os.environ, **services.function_env, **lambda_env.runtime_api_env(services))
    env.update(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(limit_mib), **(settings or {}))
    # Into the cgroup before it runs anything: the shell writes its pid, then becomes it.
    function = lambda_env.start(["sh", "-c", f'echo $$ > {group.procs()} && exec "$0"', binary], log, env=env)
    answered = 0
    started = time.perf_counter()
    try:
        for event in requests:
            reply = invoke(services.invoke_port, event, function)
            if reply is None:
                break
            if "sum" not in reply:
                fail(f"{build}: {event} answered {reply}")
            answered += 1
        seconds = time.perf_counter() - started
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
    }


def describe(result):
    peak = "n/a" if result["peak_mib"] is None else f"{result['peak_mib']:.1f} MiB"
    fate = "killed" if result["killed"] else "alive"
    extra = ""
    if result["build"] == "twelve":
        extra = f", {result['loads']} loads ({result['budget_unloads']} budget unloads, {result['over_budget_loads']} over budget)"
    return (f"{result['build']} in {result['limit_mib']} MiB: answered {result['answered']} of {REQUESTS}, "
            f"{fate}, peak {peak}{extra}")


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


def main():
    with lambda_env.Services(watch_args=["--only-lambda-apis"]) as services:
        if "--smallest" in sys.argv:
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
