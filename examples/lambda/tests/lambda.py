#!/usr/bin/env python3
"""The smart-home function as Lambda runs it: under `cargo lambda watch`, invoked with
`cargo lambda invoke`, its DynamoDB calls going to a local `moto_server`.

Checks each response body and each invocation's EMF line, then sends the function SIGTERM
and checks that its modules were unloaded and closed. Every process it starts it stops;
everything listens on 127.0.0.1. Run it from anywhere:

    python3 examples/lambda/tests/lambda.py

It needs `cargo lambda` and `moto_server` (`.ci/run` installs them with pip) and fails at
once, saying which, if one is missing.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lambda_env import Services, fail, read  # noqa: E402

GRACE_S = 2


def directive(namespace, name, payload):
    return {"directive": {"header": {"namespace": namespace, "name": name}, "payload": payload}}


class Function:
    def __init__(self, port, log, watch):
        self.port = port
        self.log = log
        # `cargo lambda watch`'s pid: the function process descends from it, and no other
        # run's does.
        self.watch = watch
        self.seen = 0

    def call(self, event):
        """`cargo lambda invoke`: the finished process."""
        return subprocess.run(
            ["cargo", "lambda", "invoke", "smart-home",
             "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port),
             "--data-ascii", json.dumps(event), "--output-format", "json"],
            capture_output=True, text=True, timeout=600,
        )

    def invoke(self, event):
        """`cargo lambda invoke`, and the EMF line the invocation printed."""
        done = self.call(event)
        if done.returncode != 0:
            fail(f"cargo lambda invoke {event}: {done.stderr}\n{read(self.log)[-4000:]}")
        response = json.loads(done.stdout)
        return response, self.emf()

    def error_type(self, event):
        """The `errorType` of an invocation that fails, as `cargo lambda invoke` reports it."""
        done = self.call(event)
        if done.returncode == 0 or not done.stderr.startswith("Error: "):
            fail(f"cargo lambda invoke {event} should fail: {done.stdout} {done.stderr}")
        self.emf()
        return done.stderr.splitlines()[0].removeprefix("Error: ")

    def emf(self):
        """The next EMF line in the function's log: printed after the response is posted, so
        it may come a moment after `invoke` returns."""
        deadline = time.time() + 10
        while time.time() < deadline:
            lines = [line for line in read(self.log).splitlines() if line.startswith("{") and '"_aws"' in line]
            if len(lines) > self.seen:
                self.seen += 1
                return json.loads(lines[self.seen - 1])
            time.sleep(0.05)
        fail(f"no EMF line after invocation {self.seen + 1}:\n{read(self.log)[-4000:]}")


def descendants(root, name):
    """The processes named `name` that descend from `root`, from /proc."""
    parents, names = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # `pid (comm) state ppid ...`: comm may hold spaces, so split at the last ')'.
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
        names[int(entry)] = comm
    found = []
    for pid, comm in names.items():
        ancestor = pid
        while ancestor > 1 and comm == name:
            ancestor = parents.get(ancestor, 0)
            if ancestor == root:
                found.append(pid)
                break
    return found


def check(condition, what, *context):
    if not condition:
        fail(f"{what}: {' | '.join(json.dumps(c) for c in context)}")
    print(f"ok: {what}")


def response(reply):
    return reply["event"]["header"]["name"], reply["event"]["payload"]


def main():
    with Services(settings={"LMMS_GRACE": f"{GRACE_S}s"}) as services:
        run(Function(services.invoke_port, services.log, services.watch.pid))
    # Provisioned concurrency runs the init ahead of the first request: the client is
    # built there, and the first line reports it as the init's.
    with Services(settings={"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}) as services:
        provisioned(Function(services.invoke_port, services.log, services.watch.pid))
    print("all checks passed")


def provisioned(function):
    reply, emf = function.invoke(directive("Alexa.PowerController", "TurnOn",
                                           {"room": "hall", "brightness": 40}))
    check(response(reply) == ("Response", {"room": "hall", "brightness": 40}),
          "a provisioned function's first request", reply)
    check(emf["ColdStart"] == 1 and emf["InitLoads"] == 1 and emf["InitBytesLoaded"] > 0
          and len(emf["InitLoadMs"]) == 1 and emf["Loads"] == 0,
          "the client was loaded in the init, and the first line says so", emf)


def run(function):
    # The first request builds the DynamoDB client (an async load) and nothing else.
    reply, emf = function.invoke(directive("Alexa.PowerController", "TurnOn",
                                           {"room": "kitchen", "brightness": 80}))
    check(response(reply) == ("Response", {"room": "kitchen", "brightness": 80}),
          "the first request writes through the SDK", reply)
    check(emf["Loads"] == 1 and emf["BytesLoaded"] > 0 and emf["ResidentModules"] == 1
          and len(emf["LoadMs"]) == 1,
          "the first request loads one module, its bytes and time measured", emf)
    check(emf["ColdStart"] == 1 and emf["InitLoads"] == 0 and emf["RequestId"],
          "the first line is the cold start's, with nothing loaded in the init", emf)

    # Warm: the client is reused.
    reply, emf = function.invoke(directive("Alexa.PowerController", "ReportState", {"room": "kitchen"}))
    check(response(reply) == ("Response", {"room": "kitchen", "brightness": 80}),
          "a warm request reads what the first wrote", reply)
    check(emf["Loads"] == 0 and "ColdStart" not in emf, "a warm request loads nothing", emf)

    # The large table, then a cache hit.
    reply, emf = function.invoke(directive("Alexa.WeatherReport", "Forecast", {"day": 2}))
    check(response(reply)[0] == "Response" and isinstance(response(reply)[1], int),
          "a forecast", reply)
    check(emf["Loads"] == 1 and emf["BytesLoaded"] >= 2 << 20, "the weather table: 2 MiB loaded", emf)
    again, emf = function.invoke(directive("Alexa.WeatherReport", "Forecast", {"day": 2}))
    check(again == reply and emf["CacheHits"] == 1 and emf["Loads"] == 0,
          "the same forecast again is a cache hit", emf)

    # Errors, each an Alexa ErrorResponse that says what was wrong.
    reply, emf = function.invoke(directive("Alexa.Cooking", "Bake", {}))
    check(response(reply) == ("ErrorResponse", {"type": "INVALID_DIRECTIVE",
                                                "message": "no handler for `Alexa.Cooking.Bake`"}),
          "an unknown directive", reply)
    reply, emf = function.invoke(directive("Alexa.PowerController", "TurnOn",
                                           {"room": "kitchen", "brightness": 900}))
    check(response(reply) == ("ErrorResponse", {
        "type": "INVALID_VALUE",
        "message": "lights.set: argument `brightness` is not a valid u8: "
                   "invalid value: integer `900`, expected u8"}),
          "bad arguments", reply)
    reply, emf = function.invoke(directive("Alexa.PowerController", "ReportState", {"room": "attic"}))
    check(response(reply) == ("ErrorResponse", {"type": "NO_SUCH_ENDPOINT",
                                                "message": "lights.get failed: no lights in `attic`"}),
          "an operation that fails is an error, not a success", reply)

    # The function's own tools call operations directly: an error fails the invocation,
    # and Lambda's errorType says which kind.
    check(function.error_type({"operation": "weather.forcast", "args": {}}) == "lmms.UnknownOperation",
          "errorType: an unknown operation")
    check(function.error_type({"operation": "weather.forecast", "args": {"day": "x"}}) == "lmms.BadArguments",
          "errorType: bad arguments")
    check(function.error_type({"operation": "lights.get", "args": {"room": "attic"}}) == "lmms.OperationFailed",
          "errorType: an operation that failed")

    # A feature module: built for its directive, unloaded right after.
    reply, emf = function.invoke(directive("Alexa.EnergyReport", "Report", {"days": 7}))
    check(response(reply)[0] == "Response", "an energy report", reply)
    check(emf["Loads"] == 1 and emf["Unloads"] == 1 and emf["BytesReclaimed"] >= 2 << 20,
          "the feature module is loaded and unloaded in its invocation", emf)

    # Idle past the grace period: the sweep after the next invocation unloads the client
    # and awaits its close.
    time.sleep(GRACE_S + 1)
    reply, emf = function.invoke(directive("Alexa.WeatherReport", "Forecast", {"day": 3}))
    check(response(reply)[0] == "Response", "a forecast after an idle gap", reply)
    check(emf["Unloads"] == 1 and emf["BytesReclaimed"] > 0 and emf["ResidentModules"] == 1,
          "the idle client is unloaded, the table used now stays", emf)
    check(read(function.log).count("devices: the DynamoDB client is closed") == 1,
          "the client's close was awaited")

    # A hot burst: the forecast takes the direct path.
    for day in range(30):
        reply, emf = function.invoke(directive("Alexa.WeatherReport", "Forecast", {"day": 10 + day}))
        if response(reply)[0] != "Response":
            fail(f"burst request {day}: {reply}")
    check(emf["HotPaths"] >= 1 and emf["Loads"] == 0, "a hot burst: the forecast is on the direct path", emf)

    # The client again, then SIGTERM: every module unloaded, the client closed.
    reply, emf = function.invoke(directive("Alexa.PowerController", "ReportState", {"room": "kitchen"}))
    check(emf["Loads"] == 1, "the client is loaded again when needed", emf)
    pids = descendants(function.watch, "smart-home")
    check(len(pids) == 1, "one function process", pids)
    os.kill(int(pids[0]), signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline and "lmms shutdown:" not in read(function.log):
        time.sleep(0.1)
    lines = read(function.log).splitlines()
    shutdown = [line for line in lines if line.startswith("lmms shutdown:")]
    check(shutdown and shutdown[0].startswith("lmms shutdown: unloaded 2 modules") and shutdown[0].endswith(", 0 kept"),
          "SIGTERM unloads every module", shutdown)
    hook = [i for i, line in enumerate(lines) if line == "smart-home: the shutdown hook ran"]
    check(len(hook) == 1 and hook[0] < lines.index(shutdown[0]),
          "the function's own shutdown hook runs, before lmms unloads", lines[-6:])
    check(read(function.log).count("devices: the DynamoDB client is closed") == 2,
          "and awaits the client's close")


if __name__ == "__main__":
    main()
