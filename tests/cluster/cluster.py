#!/usr/bin/env python3
"""The cluster harness (tests/cluster/run.sh builds quire and calls this).

Three `quire serve --role api` and two `quire worker` share one PostgreSQL database, one Redis
prefix and NATS JetStream (or RabbitMQ), behind nginx on loopback. Each scenario runs against
that cluster and adds rows to the results table; the exit status is non-zero when any row
failed. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

API_INSTANCES = 3
WORKERS = 2
#: How long any one HTTP call of the harness may take.
CALL_TIMEOUT_SECS = 10
#: The documented convergence target between instances (docs/caching.md).
CONVERGENCE_TARGET_MS = 100
#: Past this, a read on another instance counts as stale: the acceptance bound.
CONVERGENCE_FAIL_MS = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(method: str, url: str, body: dict | None = None, token: str | None = None):
    """One HTTP call: (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_SECS) as reply:
            text = reply.read()
            return reply.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text) if text else None
        except ValueError:
            return error.code, None


@dataclass
class Row:
    check: str
    passed: bool
    detail: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, check: str, passed: bool, detail: str) -> None:
        self.rows.append(Row(check, passed, detail))
        print(f"{'ok  ' if passed else 'FAIL'} {check}: {detail}", flush=True)

    def table(self) -> str:
        width = max(len(row.check) for row in self.rows)
        lines = [f"| {'check'.ljust(width)} | result | detail |", f"|{'-' * (width + 2)}|--------|--------|"]
        for row in self.rows:
            verdict = "pass" if row.passed else "FAIL"
            lines.append(f"| {row.check.ljust(width)} | {verdict:6} | {row.detail} |")
        return "\n".join(lines)


class Cluster:
    """The processes of one cluster, and what they share."""

    def __init__(self, quire: str, work: Path):
        self.quire = quire
        self.work = work
        self.processes: dict[str, subprocess.Popen] = {}
        self.api_ports = [free_port() for _ in range(API_INSTANCES)]
        self.lb_port = free_port()
        self.lb_grpc_port = free_port()
        base = os.environ.get("QUIRE_CLUSTER_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        self.admin_url = base
        self.database = f"quire_cluster_{int(time.time())}_{os.getpid()}"
        parts = urllib.parse.urlsplit(base)
        self.database_url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.database}"))
        self.redis_url = os.environ.get("QUIRE_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/")
        self.redis_prefix = f"quire:cluster:{self.database}:"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "QUIRE_DATABASE_URL": self.database_url,
            # One key for every instance: generated ones would differ (docs/operations.md).
            "QUIRE_JWT_SECRET": secrets.token_hex(32),
            "QUIRE_WEBHOOK_KEY": secrets.token_hex(32),
            "QUIRE_REDIS_URL": self.redis_url,
            "QUIRE_REDIS_PREFIX": self.redis_prefix,
            "QUIRE_LOG_FORMAT": "json",
            "QUIRE_LOG": "info",
            "QUIRE_ADMIN_LISTEN": "127.0.0.1:0",
            "QUIRE_SHUTDOWN_DELAY_SECS": "1",
            "QUIRE_SHUTDOWN_GRACE_SECS": "10",
        }
        amqp = os.environ.get("QUIRE_CLUSTER_AMQP_URL")
        if amqp:
            self.env["QUIRE_AMQP_URL"] = amqp
            self.broker = "RabbitMQ"
        else:
            self.env["QUIRE_NATS_URL"] = os.environ.get("QUIRE_CLUSTER_NATS_URL", "nats://127.0.0.1:4222")
            self.broker = "NATS JetStream"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.psql(f'CREATE DATABASE "{self.database}"')
        # The first instance brings the schema up to date before the others start.
        self.start_api(0)
        for index in range(1, API_INSTANCES):
            self.start_api(index)
        for index in range(WORKERS):
            self.start_process(f"worker{index}", [self.quire, "worker"], {})
        self.start_nginx()

    def stop(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        redis_cli = shutil.which("redis-cli")
        if redis_cli:
            keys = subprocess.run(
                [redis_cli, "-u", self.redis_url, "--scan", "--pattern", f"{self.redis_prefix}*"],
                capture_output=True, text=True, check=False,
            ).stdout.split()
            for start in range(0, len(keys), 500):
                subprocess.run([redis_cli, "-u", self.redis_url, "del", *keys[start:start + 500]],
                               capture_output=True, check=False)

    def psql(self, statement: str) -> None:
        subprocess.run(["psql", self.admin_url, "-qc", statement], check=True, capture_output=True)

    def start_process(self, name: str, command: list[str], extra: dict[str, str]) -> None:
        log = open(self.work / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            command, env={**self.env, **extra}, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.work,
        )

    def api_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.api_ports[index]}"

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def start_api(self, index: int) -> None:
        data = self.work / f"api{index}-data"
        data.mkdir(exist_ok=True)
        self.start_process(
            f"api{index}",
            [self.quire, "serve", "--role", "api"],
            {"QUIRE_LISTEN": f"127.0.0.1:{self.api_ports[index]}", "QUIRE_DATA_DIR": str(data)},
        )
        self.wait_ready(self.api_url(index), f"api{index}")

    def wait_ready(self, url: str, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{name} exited: see {self.work / (name + '.log')}")
            try:
                status, _ = call("GET", f"{url}/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} was not ready within {timeout} s")

    def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        temp = self.work / "nginx-temp"
        temp.mkdir(exist_ok=True)
        temp.chmod(0o777)
        servers = "\n".join(
            f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in self.api_ports
        )
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  # Round robin; an instance that fails is left out for 2 s (passive health checks).
  upstream quire {{
{servers}
    keepalive 32;
  }}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  server {{
    listen 127.0.0.1:{self.lb_port};
    client_max_body_size 2m;
    location / {{
      proxy_pass http://quire;
      proxy_http_version 1.1;
      # WebSocket upgrades (GraphQL subscriptions) pass; other requests keep the connection.
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # Retried on another instance: only what never reached one, or an idempotent request
      # (nginx never retries a POST or PATCH once sent).
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
      proxy_read_timeout 60s;
    }}
  }}
  # gRPC over cleartext HTTP/2.
  server {{
    listen 127.0.0.1:{self.lb_grpc_port} http2;
    location / {{
      grpc_pass grpc://quire;
      grpc_next_upstream error timeout http_502 http_503;
    }}
  }}
}}
""")
        self.start_process("nginx", [nginx, "-e", f"{self.work}/nginx-error.log", "-p", str(self.work),
                                     "-c", str(conf), "-g", "daemon off;"], {})
        self.wait_ready(self.lb_url, "nginx")


# -- scenarios ---------------------------------------------------------------------------------


def realworld(cluster: Cluster, results: Results, shared: Path) -> None:
    """The official RealWorld suite, through nginx (requests spread over the three instances)."""
    hurl = shutil.which("hurl") or str(Path.home() / ".cargo/bin/hurl")
    suite = sorted((shared / "realworld/hurl").glob("*.hurl"))
    run = subprocess.run(
        [hurl, "--test", "--jobs", "1", "--variable", f"host={cluster.lb_url}",
         "--variable", f"uid=cluster{time.time_ns()}", *map(str, suite)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    output = run.stdout + run.stderr
    (cluster.work / "hurl.txt").write_text(output)
    executed = next((line for line in output.splitlines() if "Executed requests" in line), "")
    results.add("RealWorld suite through nginx", run.returncode == 0 and "154" in executed,
                executed.strip() or f"hurl exited {run.returncode}")


def convergence(cluster: Cluster, results: Results) -> None:
    """A write through instance A is read through B and C: the writer's own next read is fresh
    at once, the others within the documented bound."""
    name = f"c{secrets.token_hex(4)}"
    status, body = call("POST", f"{cluster.api_url(0)}/api/users",
                        {"user": {"username": name, "email": f"{name}@example.com", "password": "password123"}})
    assert status == 201, (status, body)
    token = body["user"]["token"]
    status, body = call("POST", f"{cluster.api_url(0)}/api/articles",
                        {"article": {"title": f"Converging {name}", "description": "d", "body": "b"}}, token)
    assert status == 201, (status, body)
    slug = body["article"]["slug"]
    # Warm every instance's caches with the current version.
    for index in range(API_INSTANCES):
        call("GET", f"{cluster.api_url(index)}/api/articles/{slug}")
    rounds, stale_on_writer, latencies = 20, 0, []
    for round_ in range(rounds):
        title = f"Version {round_} of {name}"
        started = time.monotonic()
        status, _ = call("PUT", f"{cluster.api_url(0)}/api/articles/{slug}",
                         {"article": {"description": title}}, token)
        assert status == 200, status
        _, own = call("GET", f"{cluster.api_url(0)}/api/articles/{slug}")
        if own["article"]["description"] != title:
            stale_on_writer += 1
        for index in range(1, API_INSTANCES):
            while True:
                _, seen = call("GET", f"{cluster.api_url(index)}/api/articles/{slug}")
                elapsed = (time.monotonic() - started) * 1000
                if seen["article"]["description"] == title or elapsed > CONVERGENCE_FAIL_MS:
                    latencies.append(elapsed)
                    break
                time.sleep(0.002)
    latencies.sort()
    worst, median = latencies[-1], latencies[len(latencies) // 2]
    results.add("writer reads its own write through the same instance", stale_on_writer == 0,
                f"{stale_on_writer} stale of {rounds}")
    results.add(f"another instance converges (target {CONVERGENCE_TARGET_MS} ms, fails past "
                f"{CONVERGENCE_FAIL_MS} ms)", worst <= CONVERGENCE_FAIL_MS,
                f"median {median:.0f} ms, slowest {worst:.0f} ms over {len(latencies)} reads")


SCENARIOS = {"realworld": realworld, "convergence": convergence}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quire", required=True, help="the quire binary")
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    args = parser.parse_args()
    chosen = args.scenarios or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    shared = Path(os.environ.get("QUIRE_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
    work = Path(tempfile.mkdtemp(prefix="quire-cluster-"))
    cluster = Cluster(args.quire, work)
    results = Results()
    print(f"cluster: {API_INSTANCES} API instances, {WORKERS} workers, PostgreSQL, Redis, "
          f"{cluster.broker}, nginx on {cluster.lb_url} (logs in {work})", flush=True)
    try:
        cluster.start()
        for name in chosen:
            started = time.monotonic()
            try:
                if name == "realworld":
                    realworld(cluster, results, shared)
                else:
                    SCENARIOS[name](cluster, results)
            except Exception as error:  # a scenario that breaks is a failed row, not a crash
                results.add(name, False, f"{type(error).__name__}: {error}")
            print(f"  ({name}: {time.monotonic() - started:.1f} s)", flush=True)
    finally:
        cluster.stop()
    print()
    print(results.table())
    failed = [row for row in results.rows if not row.passed]
    if not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
