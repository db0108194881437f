#!/usr/bin/env python3
"""Cold starts through the Lambda emulator: the time from process start to the first
response, and the peak RSS (VmHWM) then, of
- the lmms function (`smart-home`: each client and table loaded when a request needs it),
- the same with every client and table built in `main` (`smart-home-eager`),
- the same with each in a static built on first use and never dropped (`smart-home-lazy`:
  `OnceCell`, `LazyLock`),
for two first requests: one that needs the slow state (the DynamoDB client, whose
configuration chain takes most of a cold start) and one that does not (a forecast, from a
2 MiB table). Then what `lmms_lambda::run` itself costs, on the smallest function
(`echo-lmms` against `echo-plain`, `lambda_runtime::run` alone): at start-up, to the first
response, and per warm invocation. Every kind alternated, median of N each (default 21):

    python3 examples/lambda/tests/coldstart.py [N] [--echo]   # --echo: run()'s cost alone

The emulator is `cargo lambda watch --only-lambda-apis`; each cold start is a fresh
function process that this script starts against it, invokes once and stops; the
DynamoDB calls go to a local moto server. Linux only (VmHWM).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_env  # noqa: E402

NEEDS_CLIENT = {"directive": {"header": {"namespace": "Alexa.PowerController", "name": "TurnOn"},
                              "payload": {"room": "kitchen", "brightness": 80}}}
SKIPS_CLIENT = {"directive": {"header": {"namespace": "Alexa.WeatherReport", "name": "Forecast"},
                              "payload": {"day": 1}}}
FUNCTIONS = ("smart-home", "smart-home-eager", "smart-home-lazy")
ECHOES = ("echo-plain", "echo-lmms")


def post(invoke_url, event):
    request = urllib.request.Request(invoke_url, data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def cold_start(binary, env, invoke_url, event):
    """Starts `binary`, invokes it once: (ms to the response, VmHWM in KiB)."""
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = post(invoke_url, event)
        elapsed = (time.perf_counter() - started) * 1000
        if body != event and body["event"]["header"]["name"] != "Response":
            lambda_env.fail(f"{binary}: {body}")
        with open(f"/proc/{process.pid}/status") as status:
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        return elapsed, hwm
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def warm_invocations(binary, env, invoke_url, event, count=300):
    """Round trips of warm invocations, in ms, the first tenth left out."""
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            post(invoke_url, event)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return times[count // 10:]


def median(values):
    return statistics.median(values)


def main():
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    runs = int(numbers[0]) if numbers else 21
    echo_only = "--echo" in sys.argv[1:]
    with lambda_env.Services(watch_args=["--only-lambda-apis"]) as services:
        target = lambda_env.release_dir()
        env = dict(os.environ, **services.function_env, **lambda_env.runtime_api_env(services))
        invoke_url = f"http://127.0.0.1:{services.invoke_port}/2015-03-31/functions/_/invocations"
        kinds = {} if echo_only else {"needs the client": NEEDS_CLIENT, "skips it": SKIPS_CLIENT}
        cold = {(kind, name): [] for kind in kinds for name in FUNCTIONS}
        echo = {name: [] for name in ECHOES}
        for _ in range(runs):
            for kind, event in kinds.items():
                for name in FUNCTIONS:
                    cold[kind, name].append(cold_start(os.path.join(target, name), env, invoke_url, event))
            for name in ECHOES:
                echo[name].append(cold_start(os.path.join(target, name), env, invoke_url, {"ping": 1}))
        warm = {}
        for _ in range(3):
            for name in ECHOES:
                warm.setdefault(name, []).extend(
                    warm_invocations(os.path.join(target, name), env, invoke_url, {"ping": 1}, 200))
    print(f"cold starts through `cargo lambda watch --only-lambda-apis`, median of {runs} each, alternated")
    if kinds:
        print("| first request | function | first response (ms) | peak RSS, VmHWM (MiB) |")
        print("|---|---|---|---|")
    for kind in kinds:
        medians = {}
        for name in FUNCTIONS:
            runs_of = cold[kind, name]
            medians[name] = (median(r[0] for r in runs_of), median(r[1] for r in runs_of) / 1024)
            print(f"| {kind} | `{name}` | {medians[name][0]:.1f} | {medians[name][1]:.1f} |")
        ours, eager, lazy = (medians[name] for name in FUNCTIONS)
        print(f"| {kind} | lmms ÷ eager ÷ lazy | {ours[0] / eager[0]:.3f} ÷ 1 ÷ {lazy[0] / eager[0]:.3f}"
              f" | {ours[1] / eager[1]:.3f} ÷ 1 ÷ {lazy[1] / eager[1]:.3f} |")
    plain, lmms = (median(r[0] for r in echo[name]) for name in ECHOES)
    print(f"start-up to the first response: `echo-plain` {plain:.2f} ms, `echo-lmms` {lmms:.2f} ms:"
          f" {lmms / plain:.3f}× (+{lmms - plain:.2f} ms)")
    plain, lmms = (median(warm[name]) for name in ECHOES)
    print(f"a warm invocation, median of {len(warm['echo-lmms'])}: `echo-plain` {plain:.3f} ms,"
          f" `echo-lmms` {lmms:.3f} ms: {lmms / plain:.3f}× (+{(lmms - plain) * 1000:.0f} µs)")


if __name__ == "__main__":
    main()
