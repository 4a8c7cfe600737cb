"""Start and stop the container's model server (tests/container/launch_server.py) on
127.0.0.1, and talk to it over HTTP."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.container.conftest import CONTAINER_PYTHON, HERE, clean_environment, free_port

# No index is reachable: if the start needed anything from one, it would fail.
NO_NETWORK = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull,
              "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}


def container_environment(base: Path, model_environment: dict, port: int) -> dict:
    """The served model's environment as the model package sets it, with /opt/ml at `base`."""
    env = dict(model_environment)
    env["SAGEMAKER_SUBMIT_DIRECTORY"] = env["SAGEMAKER_SUBMIT_DIRECTORY"].replace(
        "/opt/ml", str(base))
    return clean_environment(
        **env, **NO_NETWORK,
        SAGEMAKER_BASE_DIR=str(base),
        # nginx listens on 127.0.0.1 only (the container's template takes the port verbatim).
        SAGEMAKER_BIND_TO_PORT=f"127.0.0.1:{port}",
        SAGEMAKER_SERVING_MODULE="sklearn_serving:main",
        PYTHONPATH=str(HERE),
        PATH=f"{CONTAINER_PYTHON.parent}:{os.environ['PATH']}")


class Server:
    def __init__(self, model_dir: Path, model_environment: dict, workers: int | None = None):
        # nginx's workers (user nobody) must reach gunicorn's socket: a world-readable folder.
        self.base = Path(tempfile.mkdtemp(prefix="sm-serve-"))
        os.chmod(self.base, 0o755)
        shutil.copytree(model_dir, self.base / "model")
        self.run_dir = self.base / "run"
        self.run_dir.mkdir(mode=0o755)
        self.port = free_port()
        self.env = container_environment(self.base, model_environment, self.port)
        if workers:
            self.env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(workers)
        self.log_path = self.base / "server.log"
        self.proc = None

    def start(self, timeout: float = 180) -> "Server":
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(CONTAINER_PYTHON), str(HERE / "launch_server.py"),
                                      str(self.run_dir)], env=self.env, cwd=self.base,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"model server exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if self.request("GET", "/ping", timeout=30)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"model server not answering /ping:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method, path, body=None, headers=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()
        finally:
            conn.close()

    def invoke(self, body, content_type, accept="application/json"):
        headers = {"Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.request("POST", "/invocations", body, headers)

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid), "-f", "gunicorn"],
                             capture_output=True, text=True).stdout.split()
        return sorted(int(p) for p in out)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
                # The launcher is gone; its group (nginx, gunicorn) may linger a moment.
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and subprocess.run(
                        ["pgrep", "-g", str(self.proc.pid)], capture_output=True).returncode == 0:
                    time.sleep(0.2)
                if subprocess.run(["pgrep", "-g", str(self.proc.pid)],
                                  capture_output=True).returncode != 0:
                    break
        shutil.rmtree(self.base, ignore_errors=True)
