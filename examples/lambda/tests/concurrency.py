#!/usr/bin/env python3
"""The function of twelve modules (`src/twelve/`) with overlapping invocations, as Lambda
Managed Instances run it: `AWS_LAMBDA_MAX_CONCURRENCY=4`, the lmms build's
`Function::run_concurrent` polling four invocations at once, in a memory cgroup of the
function's memory size. Eight clients send the memory-limit test's request mix through the
emulator's invoke API.

    python3 examples/lambda/tests/concurrency.py            # the test
    python3 examples/lambda/tests/concurrency.py --figures  # invocations per second with
                                                             # four at once ÷ one at a time,
                                                             # and the peak against the budget

The test checks behaviour, not speed: every request answered and the function alive, the
invocations overlapping (the handler counts how many it runs at once), and each load and
unload reported by exactly one EMF line however the invocations overlapped (the lines' sums
against the modules' own counts). Needs root (the cgroup), `cargo lambda` and
`moto_server`. Every process it starts it stops; everything listens on 127.0.0.1.
"""

import concurrent.futures
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_env  # noqa: E402
from lambda_env import fail  # noqa: E402
from memory_limit import Cgroup, mix  # noqa: E402

MEMORY_MIB = 256
CLIENTS = 8
REQUESTS = 400


def post(url, event):
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def emf_lines(log):
    return [line for line in lambda_env.read(log).splitlines() if line.startswith("{") and '"_aws"' in line]


def serve(services, concurrency, requests):
    """Serves `requests` from eight clients with `concurrency` invocations at once: the
    replies, the seconds it took, the cgroup's peak, the EMF lines, the stats dump and the
    start-up line."""
    binary = os.path.join(lambda_env.release_dir(), "twelve")
    group = Cgroup(f"lmms-concurrency-{os.getpid()}-{concurrency}", MEMORY_MIB)
    log = os.path.join(services.work, f"concurrency-{concurrency}.log")
    env = dict(os.environ, **services.function_env, **lambda_env.runtime_api_env(services))
    env.update(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(MEMORY_MIB), AWS_LAMBDA_MAX_CONCURRENCY=str(concurrency))
    function = lambda_env.start(["sh", "-c", f'echo $$ > {group.procs()} && exec "$0"', binary], log, env=env)
    url = f"http://127.0.0.1:{services.invoke_port}/2015-03-31/functions/_/invocations"
    try:
        time.sleep(0.5)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as clients:
            replies = list(clients.map(lambda event: post(url, event), requests))
        seconds = time.perf_counter() - started
        # The first dump's sweep comes after its figures: the second's figures include
        # it, and its own line (the last) is left out of the sums.
        post(url, {"stats": True})
        stats = post(url, {"stats": True})
        deadline = time.time() + 10
        while time.time() < deadline and len(emf_lines(log)) < len(requests) + 2:
            time.sleep(0.05)
        alive = function.poll() is None
    finally:
        lambda_env.stop(function)
        peak = group.peak()
        group.remove()
    lines = lambda_env.read(log).splitlines()
    emf = [json.loads(line) for line in emf_lines(log)][:-1]
    startup = next((line for line in lines if line.startswith("lmms: memory budget")), None)
    return {"replies": replies, "seconds": seconds, "peak_mib": peak and peak / (1 << 20),
            "emf": emf, "stats": stats, "alive": alive, "startup": startup}


def test(services):
    requests = mix(REQUESTS)
    run = serve(services, 4, requests)
    answered = [reply for reply in run["replies"] if "sum" in reply]
    if not run["alive"] or len(answered) != len(requests):
        fail(f"with four at once: {len(answered)} of {len(requests)} answered, alive: {run['alive']}")
    print(f"ok: four at once, every request answered in {MEMORY_MIB} MiB")
    most = max(reply["in_flight"] for reply in answered)
    if most < 2:
        fail(f"the invocations never overlapped (at most {most} at once)")
    print(f"ok: the invocations overlapped, up to {most} at once")
    modules = run["stats"]["modules"]
    for figure, field in (("Loads", "loads"), ("Unloads", "unloads")):
        reported = sum(line.get(figure, 0) for line in run["emf"])
        counted = sum(module[field] for module in modules)
        if reported != counted:
            fail(f"the EMF lines report {reported} {figure.lower()}, the modules count {counted}")
        print(f"ok: {figure.lower()}: each reported once, {counted} in all")
    cold = [line for line in run["emf"] if "ColdStart" in line]
    if len(cold) != 1:
        fail(f"{len(cold)} lines say ColdStart")
    print("ok: one cold start")
    if not run["startup"]:
        fail("no start-up line with a memory budget")


def figures(services):
    requests = mix(REQUESTS)
    runs = {}
    for _ in range(3):
        for concurrency in (1, 4):
            runs.setdefault(concurrency, []).append(serve(services, concurrency, requests))
    print(f"{REQUESTS} requests of the memory-limit mix from {CLIENTS} clients, {MEMORY_MIB} MiB cgroup, 3 runs each, alternated")
    print("| invocations at once | invocations/s (median) | peak (MiB, max) | loads | budget unloads | over-budget loads |")
    print("|---|---|---|---|---|---|")
    rates = {}
    for concurrency, results in runs.items():
        rates[concurrency] = sorted(REQUESTS / r["seconds"] for r in results)[1]
        peak = max(r["peak_mib"] or 0 for r in results)
        sums = [sum(line.get(name, 0) for line in results[0]["emf"]) for name in ("Loads", "BudgetUnloads", "OverBudgetLoads")]
        print(f"| {concurrency} | {rates[concurrency]:.1f} | {peak:.1f} | {sums[0]} | {sums[1]} | {sums[2]} |")
    print(f"four at once ÷ one at a time: {rates[4] / rates[1]:.2f}× the invocations per second")
    print(runs[4][0]["startup"])


def main():
    with lambda_env.Services(watch_args=["--only-lambda-apis"]) as services:
        if "--figures" in sys.argv[1:]:
            figures(services)
        else:
            test(services)


if __name__ == "__main__":
    main()
