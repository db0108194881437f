"""What the function's tests run it against: a local `moto_server` with the function's
table, and `cargo lambda watch`, each on a free 127.0.0.1 port, in process groups of their
own that are stopped on the way out however the test ends."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
TABLE = "lmms-devices"


def release_dir():
    """Where `cargo build --release` put the example's binaries: under `CARGO_TARGET_DIR`
    when it is set, as cargo does."""
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(EXAMPLE, "target")
    return os.path.join(os.path.abspath(target), "release")


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log, **kwargs):
    """A process in a group of its own, so that stopping it stops its children."""
    out = open(log, "w")
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(port, seconds, process, log):
    """Until something listens on 127.0.0.1:`port` (the emulator answers no plain GET)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            fail(f"port {port}: the server exited ({process.returncode}):\n{read(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    fail(f"nothing listened on port {port} in {seconds} s:\n{read(log)[-4000:]}")


def create_table(endpoint):
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "room", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "room", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


class Services:
    """moto with the table, then `cargo lambda watch --release` (with `watch_args`) in the
    example's directory, the function's environment pointing at moto."""

    def __init__(self, watch_args=(), settings=None):
        self.watch_args = list(watch_args)
        self.settings = settings or {}

    def __enter__(self):
        for tool in ("cargo-lambda", "moto_server"):
            if shutil.which(tool) is None:
                fail(f"`{tool}` is not installed: pip install cargo-lambda 'moto[server]'")
        self.work = tempfile.mkdtemp(prefix="lmms-lambda-")
        self.processes = []
        try:
            moto_port, self.invoke_port = free_port(), free_port()
            endpoint = f"http://127.0.0.1:{moto_port}"
            moto_log = os.path.join(self.work, "moto.log")
            self.log = os.path.join(self.work, "watch.log")
            moto = start(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_log)
            self.processes.append(moto)
            wait_for(moto_port, 30, moto, moto_log)
            create_table(endpoint)
            self.function_env = {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": "us-east-1",
                "LMMS_TABLE": TABLE,
                **self.settings,
            }
            watch = start(
                ["cargo", "lambda", "watch", "--release", "--ignore-changes", "--quiet",
                 "--invoke-address", "127.0.0.1", "--invoke-port", str(self.invoke_port),
                 "--env-vars", ",".join(f"{k}={v}" for k, v in self.function_env.items()),
                 *self.watch_args],
                self.log, cwd=EXAMPLE,
            )
            self.processes.append(watch)
            self.watch = watch
            wait_for(self.invoke_port, 120, watch, self.log)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_):
        for process in reversed(self.processes):
            stop(process)
        shutil.rmtree(self.work, ignore_errors=True)
        return False


def runtime_api_env(services):
    """What a function process started by hand needs to reach `--only-lambda-apis`'s
    runtime API, as `cargo lambda watch` would set it."""
    return {
        "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{services.invoke_port}/.rt",
        "AWS_LAMBDA_FUNCTION_NAME": "_",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "4096",
    }
