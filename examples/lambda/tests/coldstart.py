#!/usr/bin/env python3
"""Cold starts through the Lambda emulator: the time from process start to the first
response, and the peak RSS (VmHWM), of the lmms function (clients loaded lazily, with
`.await`) against the same function with every client and table built in `main`
(`smart-home-eager`). Alternated, median of N each (default 21):

    python3 examples/lambda/tests/coldstart.py [N]

The emulator is `cargo lambda watch --only-lambda-apis`; each cold start is a fresh
function process that this script starts against it, invokes once (the first directive
needs the DynamoDB client, on a local moto server) and stops. Linux only (VmHWM).
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

FIRST = {"directive": {"header": {"namespace": "Alexa.PowerController", "name": "TurnOn"},
                       "payload": {"room": "kitchen", "brightness": 80}}}


def cold_start(binary, env, invoke_url):
    """Starts `binary`, invokes it once: (ms to the response, VmHWM in KiB)."""
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        request = urllib.request.Request(invoke_url, data=json.dumps(FIRST).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=60) as reply:
            body = json.loads(reply.read())
        elapsed = (time.perf_counter() - started) * 1000
        if body["event"]["header"]["name"] != "Response":
            lambda_env.fail(f"{binary}: {body}")
        with open(f"/proc/{process.pid}/status") as status:
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        return elapsed, hwm
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def warm_invocations(binary, env, invoke_url, count=300):
    """Round trips of warm invocations, in ms: what one invocation costs through the
    emulator, the anchor of the adapter's per-invocation overhead."""
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    forecast = {"directive": {"header": {"namespace": "Alexa.WeatherReport", "name": "Forecast"},
                              "payload": {"day": 1}}}
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            request = urllib.request.Request(invoke_url, data=json.dumps(forecast).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=60) as reply:
                reply.read()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return times[count // 10:]


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    with lambda_env.Services(watch_args=["--only-lambda-apis"]) as services:
        target = lambda_env.release_dir()
        env = dict(os.environ, **services.function_env, **lambda_env.runtime_api_env(services))
        invoke_url = f"http://127.0.0.1:{services.invoke_port}/2015-03-31/functions/_/invocations"
        figures = {"smart-home": [], "smart-home-eager": []}
        for _ in range(runs):
            for name in figures:
                figures[name].append(cold_start(os.path.join(target, name), env, invoke_url))
        warm = warm_invocations(os.path.join(target, "smart-home"), env, invoke_url)
    print(f"cold starts through `cargo lambda watch --only-lambda-apis`, median of {runs} each, alternated")
    print("| function | first response (ms) | peak RSS, VmHWM (MiB) |")
    print("|---|---|---|")
    medians = {}
    for name, runs_of in figures.items():
        ms = statistics.median(r[0] for r in runs_of)
        hwm = statistics.median(r[1] for r in runs_of) / 1024
        medians[name] = (ms, hwm)
        print(f"| `{name}` | {ms:.1f} | {hwm:.1f} |")
    lazy, eager = medians["smart-home"], medians["smart-home-eager"]
    print(f"lmms / eager: first response {lazy[0] / eager[0]:.2f}, peak RSS {lazy[1] / eager[1]:.2f}")
    print(f"a warm invocation (a cached forecast) through the emulator, median of {len(warm)}: {statistics.median(warm):.3f} ms")


if __name__ == "__main__":
    main()
