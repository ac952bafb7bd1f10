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
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

API_INSTANCES = 3
WORKERS = 2
#: How long any one HTTP call of the harness may take.
CALL_TIMEOUT_SECS = 10
#: Past this, a read on another instance counts as stale: the acceptance bound.
CONVERGENCE_FAIL_MS = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rfc3339(at: float) -> str:
    """`at` (seconds since the epoch) in RFC 3339, UTC, to the millisecond. Whole seconds would
    cut up to a second off a time a moment ahead, which a slow request could then reach."""
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")


def call(method: str, url: str, body: dict | None = None, token: str | None = None):
    """One HTTP call: (status, parsed JSON body or None)."""
    status, reply, _ = call_full(method, url, body, token)
    return status, reply


def call_full(method: str, url: str, body: dict | None = None, token: str | None = None,
              headers: dict[str, str] | None = None):
    """One HTTP call: (status, parsed JSON body or None, response headers)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_SECS) as reply:
            text = reply.read()
            return reply.status, json.loads(text) if text else None, reply.headers
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text) if text else None, error.headers
        except ValueError:
            return error.code, None, error.headers


def every_comment(base: str, slug: str) -> list[dict]:
    """Every comment of an article, oldest first, following each page's `Link: rel="next"`."""
    comments: list[dict] = []
    path: str | None = f"/api/articles/{slug}/comments"
    while path:
        status, body, headers = call_full("GET", f"{base}{path}")
        assert status == 200, status
        comments.extend(body["comments"])
        link = re.match(r'<([^>]+)>;\s*rel="next"', headers.get("Link") or "")
        path = link.group(1) if link else None
    return comments


def metric(url: str, name: str) -> float | None:
    """The value of an unlabelled Prometheus metric at `url` (an admin address's /metrics)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=CALL_TIMEOUT_SECS) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(f"{name} ") or line.startswith(f"{name}{{}}"):
                    return float(line.split()[-1])
    except OSError:
        return None
    return None


# -- a TCP proxy through which a dependency is cut and restored --------------------------------


def run_proxy(listen_port: int, upstream: str) -> None:
    """Forwards 127.0.0.1:`listen_port` to `upstream` (host:port) until SIGTERM. SIGUSR1 cuts:
    open connections are reset and new ones refused, as when the dependency's process stops;
    SIGUSR2 listens again."""
    import asyncio

    host, port = upstream.rsplit(":", 1)

    async def main() -> None:
        open_writers: set[asyncio.StreamWriter] = set()
        server: asyncio.base_events.Server | None = None
        done = asyncio.Event()

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.transport.abort()
                return
            open_writers.update((writer, up_writer))
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            open_writers.discard(writer)
            open_writers.discard(up_writer)

        async def listen() -> None:
            nonlocal server
            if server is None:
                server = await asyncio.start_server(accept, "127.0.0.1", listen_port, reuse_address=True)

        def cut() -> None:
            nonlocal server
            if server is not None:
                server.close()
                server = None
            for writer in list(open_writers):
                writer.transport.abort()
            open_writers.clear()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, cut)
        loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(listen()))
        loop.add_signal_handler(signal.SIGTERM, done.set)
        await listen()
        await done.wait()
        cut()

    asyncio.run(main())


class Proxy:
    """A dependency behind `run_proxy`, in a process of its own."""

    def __init__(self, cluster: "Cluster", name: str, upstream: str):
        self.name, self.port = name, free_port()
        cluster.start_process(name, [sys.executable, __file__, "--proxy", str(self.port), upstream], {})
        self.process = cluster.processes[name]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the {name} proxy did not listen")

    def cut(self) -> None:
        self.process.send_signal(signal.SIGUSR1)

    def restore(self) -> None:
        self.process.send_signal(signal.SIGUSR2)


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by 127.0.0.1:`port`."""
    parts = urllib.parse.urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{port}"))


def upstream_of(url: str, default_port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"


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
        #: The API instances nginx sends traffic to.
        self.rotation = set(range(API_INSTANCES))
        self.lb_port = free_port()
        self.lb_grpc_port = free_port()
        base = os.environ.get("QUIRE_CLUSTER_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        self.postgres_admin_url = base
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
            "QUIRE_SHUTDOWN_DELAY_SECS": "1",
            "QUIRE_SHUTDOWN_GRACE_SECS": "10",
            # The scheduled-post scenario's webhook receiver listens on loopback.
            "QUIRE_WEBHOOKS_ALLOW_LOOPBACK": "true",
            # The harness's load comes from one address, through the load balancer: it tests
            # the cluster, not the per-client limits (crates/server/tests/api/limits.rs does).
            "QUIRE_RATE_LIMITS": "off",
        }
        amqp = os.environ.get("QUIRE_CLUSTER_AMQP_URL")
        if amqp:
            self.broker_var, self.broker_url, self.broker_port = "QUIRE_AMQP_URL", amqp, 5672
            self.broker = "RabbitMQ"
        else:
            self.broker_var, self.broker_port = "QUIRE_NATS_URL", 4222
            self.broker_url = os.environ.get("QUIRE_CLUSTER_NATS_URL", "nats://127.0.0.1:4222")
            self.broker = "NATS JetStream"
        #: Each process's admin address (its /metrics), by name.
        self.admin_ports: dict[str, int] = {}
        self.proxies: dict[str, Proxy] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.psql(f'CREATE DATABASE "{self.database}"')
        # Every dependency is reached through a TCP proxy, so a scenario can cut it.
        for name, var, url, port in [
            ("postgres", "QUIRE_DATABASE_URL", self.database_url, 5432),
            ("redis", "QUIRE_REDIS_URL", self.redis_url, 6379),
            ("broker", self.broker_var, self.broker_url, self.broker_port),
        ]:
            self.proxies[name] = Proxy(self, f"{name}-proxy", upstream_of(url, port))
            self.env[var] = through(url, self.proxies[name].port)
        # The first instance brings the schema up to date before the others start.
        self.start_api(0)
        for index in range(1, API_INSTANCES):
            self.start_api(index)
        for index in range(WORKERS):
            self.start_worker(index)
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
        subprocess.run(["psql", self.postgres_admin_url, "-qc", statement], check=True, capture_output=True)

    def start_process(self, name: str, command: list[str], extra: dict[str, str]) -> None:
        log = open(self.work / f"{name}.log", "ab")
        if command[0] == self.quire:
            port = self.admin_ports.setdefault(name, free_port())
            extra = {"QUIRE_ADMIN_LISTEN": f"127.0.0.1:{port}", **extra}
        self.processes[name] = subprocess.Popen(
            command, env={**self.env, **extra}, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.work,
        )

    def admin_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.admin_ports[name]}"

    def start_worker(self, index: int) -> None:
        self.start_process(f"worker{index}", [self.quire, "worker"], {})

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
        conf = self.write_nginx_conf()
        self.start_process("nginx", [nginx, "-e", f"{self.work}/nginx-error.log", "-p", str(self.work),
                                     "-c", str(conf), "-g", "daemon off;"], {})
        self.wait_ready(self.lb_url, "nginx")

    def reload_nginx(self) -> None:
        """Applies the rotation: nginx's new workers send only to the instances in it, its old
        ones finish what they carry and quit (a graceful reload, SIGHUP)."""
        self.write_nginx_conf()
        self.processes["nginx"].send_signal(signal.SIGHUP)
        # The new workers take over within milliseconds; leave them a margin.
        time.sleep(0.5)

    def restart_api(self, index: int) -> dict[str, float]:
        """A rolling restart's step for one instance, as an orchestrator does it: out of the
        load balancer's rotation, SIGTERM (readiness fails, in-flight requests finish), a new
        process, ready, back in. Returns how long each part took, in seconds."""
        name = f"api{index}"
        timings = {}
        started = time.monotonic()
        self.rotation.discard(index)
        self.reload_nginx()
        process = self.processes[name]
        process.terminate()
        process.wait(timeout=30)
        timings["stop"] = time.monotonic() - started
        if process.returncode != 0:
            raise RuntimeError(f"{name} exited with {process.returncode} on SIGTERM")
        started = time.monotonic()
        self.start_api(index)
        timings["start"] = time.monotonic() - started
        self.rotation.add(index)
        self.reload_nginx()
        return timings

    def write_nginx_conf(self) -> Path:
        temp = self.work / "nginx-temp"
        temp.mkdir(exist_ok=True)
        temp.chmod(0o777)
        servers = "\n".join(
            f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
            for index, port in enumerate(self.api_ports) if index in self.rotation
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
      # (nginx never retries a POST or PATCH once sent). A 503 is passed on, not retried: quire
      # answers it when a dependency every instance shares is down, and counting it as the
      # instance's failure would take every instance out at once ("no live upstreams").
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_read_timeout 60s;
    }}
  }}
  # gRPC over cleartext HTTP/2.
  server {{
    listen 127.0.0.1:{self.lb_grpc_port} http2;
    location / {{
      grpc_pass grpc://quire;
      grpc_next_upstream error timeout;
    }}
  }}
}}
""")
        return conf


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
    rounds, stale_on_writer, stale_elsewhere, latencies = 20, 0, 0, []
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
            first = True
            while True:
                _, seen = call("GET", f"{cluster.api_url(index)}/api/articles/{slug}")
                elapsed = (time.monotonic() - started) * 1000
                fresh = seen["article"]["description"] == title
                if first and not fresh:
                    stale_elsewhere += 1
                first = False
                if fresh or elapsed > CONVERGENCE_FAIL_MS:
                    latencies.append(elapsed)
                    break
                time.sleep(0.002)
    latencies.sort()
    worst, median = latencies[-1], latencies[len(latencies) // 2]
    results.add("writer reads its own write through the same instance", stale_on_writer == 0,
                f"{stale_on_writer} stale of {rounds}")
    # With Redis up, a write returns once every instance would read it (docs/caching.md).
    results.add("another instance reads the write as soon as it is acknowledged", stale_elsewhere == 0,
                f"{stale_elsewhere} stale of {len(latencies)} first reads; fresh after median "
                f"{median:.0f} ms, slowest {worst:.0f} ms from the write's start")


class MixedLoad:
    """Reads and writes through the load balancer from several clients at once, each with an
    account and a post of its own, for at most `seconds` and `max_requests` requests per
    client. Records every failed request (a transport error or an unexpected status) and every
    acknowledged write, so that afterwards nothing acknowledged can be missing unseen.

    Comments are posted through /api/v1 with an `Idempotency-Key`, and a post whose answer
    never came (a transport error, or nginx's 502 when the instance died under it) is sent
    once more with the same key, as a client of that contract does: the retry is counted, and
    a write done twice would show as a duplicate. With `unavailable_ok`, a 503 that carries
    `Retry-After` is counted apart, not as a failure (a dependency every instance needs is
    down)."""

    def __init__(self, base: str, clients: int, seconds: float, max_requests: int = 50_000,
                 unavailable_ok: bool = False):
        self.base, self.clients, self.seconds, self.max_requests = base, clients, seconds, max_requests
        self.unavailable_ok = unavailable_ok
        self.accounts: list[dict] = []
        self.failures: list[str] = []
        self.reads = self.writes = self.retried = self.unavailable = self.waited_for_claims = 0
        #: The longest a request took, retry included, in seconds.
        self.slowest = 0.0
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def prepare(self) -> None:
        for index in range(self.clients):
            name = f"load{index}x{secrets.token_hex(3)}"
            status, body = call("POST", f"{self.base}/api/users", {"user": {
                "username": name, "email": f"{name}@example.com", "password": "password123"}})
            assert status == 201, (status, body)
            token = body["user"]["token"]
            status, body = call("POST", f"{self.base}/api/v1/posts", {
                "title": f"Load {name}", "description": "v0", "content": "b", "tags": ["load"]}, token)
            assert status == 201, (status, body)
            self.accounts.append({"token": token, "slug": body["slug"], "id": body["postId"],
                                  "comments": [], "bodies": [], "description": "v0"})

    def start(self) -> None:
        deadline = time.monotonic() + self.seconds
        self.threads = [threading.Thread(target=self.client, args=(index, deadline), daemon=True)
                        for index in range(self.clients)]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=self.seconds + CLAIM_LAPSE_SECS + 2 * CALL_TIMEOUT_SECS)

    def send(self, method: str, path: str, body: dict | None, token: str | None,
             headers: dict[str, str] | None = None):
        try:
            return call_full(method, f"{self.base}{path}", body, token, headers)
        except OSError as error:
            return None, str(error), {}

    def client(self, index: int, deadline: float) -> None:
        account = self.accounts[index]
        slug, token, post = account["slug"], account["token"], account["id"]
        rng = random.Random(index)
        for n in range(self.max_requests):
            if time.monotonic() >= deadline:
                return
            roll = rng.random()
            headers = None
            if roll < 0.15:
                text = f"comment {n} of client {index}"
                request = ("POST", f"/api/v1/posts/{post}/comments", {"content": text}, token, 201)
                headers = {"Idempotency-Key": secrets.token_hex(16)}
            elif roll < 0.25:
                request = ("PUT", f"/api/articles/{slug}", {"article": {"description": f"v{n}"}}, token, 200)
            elif roll < 0.45:
                request = ("GET", "/api/articles?limit=10", None, None, 200)
            elif roll < 0.65:
                request = ("GET", f"/api/articles/{slug}", None, None, 200)
            elif roll < 0.85:
                request = ("GET", f"/api/articles/{slug}/comments", None, None, 200)
            else:
                request = ("GET", "/api/user", None, token, 200)
            method, path, body, auth, expected = request
            sent = time.monotonic()
            status, reply, answer = self.send(method, path, body, auth, headers)
            if headers and status in (None, 502, 504):
                with self.lock:
                    self.retried += 1
                time.sleep(0.2)
                status, reply, answer = self.send(method, path, body, auth, headers)
                # The first attempt's claim on the key may outlive an instance killed under it:
                # the server answers 409 until the claim is given up (2 minutes), then the
                # retry runs for real.
                while status == 409 and time.monotonic() - sent < CLAIM_LAPSE_SECS:
                    with self.lock:
                        self.waited_for_claims += 1
                    time.sleep(1)
                    status, reply, answer = self.send(method, path, body, auth, headers)
            with self.lock:
                self.slowest = max(self.slowest, time.monotonic() - sent)
                if method == "GET":
                    self.reads += 1
                else:
                    self.writes += 1
                if status == 503 and self.unavailable_ok and answer.get("Retry-After"):
                    self.unavailable += 1
                    continue
                if status != expected:
                    self.failures.append(f"{method} {path}: {status} {str(reply)[:120]}")
                    continue
            if method == "POST":
                account["comments"].append(reply["commentId"])
                account["bodies"].append(body["content"])
            elif method == "PUT":
                account["description"] = body["article"]["description"]

    def lost_writes(self) -> tuple[int, int, int]:
        """(acknowledged writes missing, acknowledged writes, writes done twice), read back
        through the balancer."""
        lost = acknowledged = twice = 0
        for account in self.accounts:
            comments = every_comment(self.base, account["slug"])
            present = {comment["id"] for comment in comments}
            bodies = [comment["body"] for comment in comments]
            twice += len(bodies) - len(set(bodies))
            acknowledged += len(account["comments"]) + 1
            lost += sum(1 for id_ in account["comments"] if id_ not in present)
            status, body = call("GET", f"{self.base}/api/articles/{account['slug']}")
            if status != 200 or body["article"]["description"] != account["description"]:
                lost += 1
        return lost, acknowledged, twice

    def summary(self) -> str:
        first = "; ".join(self.failures[:3])
        parts = [f"{len(self.failures)} failed of {self.reads + self.writes} "
                 f"({self.reads} reads, {self.writes} writes, slowest {self.slowest:.2f} s)"]
        if self.unavailable:
            parts.append(f"{self.unavailable} answered 503 with Retry-After")
        if self.retried:
            parts.append(f"{self.retried} keyed writes retried")
        if self.waited_for_claims:
            parts.append(f"{self.waited_for_claims} retries answered 409 while a dead claim lapsed")
        if first:
            parts.append(f"first: {first}")
        return "; ".join(parts)


#: How long a keyed write's retry keeps trying while the killed first attempt's claim on its
#: key lapses: the server gives up a claim that never completed after 2 minutes
#: (ABANDONED_CLAIM_MILLIS), and a margin.
CLAIM_LAPSE_SECS = 130


#: How long the rolling restart's load runs.
ROLLING_LOAD_SECS = 60


def rolling_restart(cluster: Cluster, results: Results) -> None:
    """Each API instance in turn leaves the rotation, gets SIGTERM, restarts and rejoins, while
    a mixed load runs through nginx: no request fails and no acknowledged write is lost."""
    load = MixedLoad(cluster.lb_url, clients=6, seconds=ROLLING_LOAD_SECS)
    load.prepare()
    load.start()
    steps = []
    gap = ROLLING_LOAD_SECS / (API_INSTANCES + 1)
    for index in range(API_INSTANCES):
        time.sleep(gap / 2)
        steps.append(cluster.restart_api(index))
        time.sleep(gap / 2)
    load.join()
    lost, acknowledged, twice = load.lost_writes()
    stops = ", ".join(f"{step['stop']:.1f}" for step in steps)
    starts = ", ".join(f"{step['start']:.1f}" for step in steps)
    results.add(f"rolling restart of {API_INSTANCES} API instances under a {ROLLING_LOAD_SECS} s mixed load",
                not load.failures, f"{load.summary()}; drain and stop {stops} s, start {starts} s")
    results.add("rolling restart: acknowledged writes kept, none done twice", lost == 0 and twice == 0,
                f"{lost} missing of {acknowledged}, {twice} twice")


#: How long each injected failure lasts.
OUTAGE_SECS = 5
#: The acceptance's bound on recovering after PostgreSQL is back.
RECOVERY_TARGET_SECS = 5
#: The acceptance's bound on a standby worker taking over.
TAKEOVER_TARGET_SECS = 10


def sql(cluster: Cluster, query: str) -> str:
    """One value read on the cluster's database directly (not through its proxy)."""
    out = subprocess.run(["psql", cluster.database_url, "-tAc", query],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def pending_events(cluster: Cluster, up_to: int | None = None) -> int:
    """Outbox rows not yet confirmed by the broker, of those up to outbox position `up_to`."""
    bound = f" AND seq <= {int(up_to)}" if up_to is not None else ""
    return int(sql(cluster, f"SELECT count(*) FROM outbox WHERE sent_at IS NULL{bound}"))


def wait_until(condition, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    return None


def under_load(cluster: Cluster, inject, heal, unavailable_ok: bool = False):
    """Runs a mixed load through nginx, calls `inject()` after 4 s and `heal()` after the outage,
    and returns (the load, what heal returned, lost, acknowledged, twice)."""
    load = MixedLoad(cluster.lb_url, clients=4, seconds=4 + OUTAGE_SECS + 8, unavailable_ok=unavailable_ok)
    load.prepare()
    load.start()
    time.sleep(4)
    inject()
    time.sleep(OUTAGE_SECS)
    healed = heal()
    load.join()
    lost, acknowledged, twice = load.lost_writes()
    return load, healed, lost, acknowledged, twice


def failure_row(results: Results, name: str, outcome, recovered: bool, recovery: str) -> None:
    load, _, lost, acknowledged, twice = outcome
    passed = not load.failures and lost == 0 and twice == 0 and recovered
    results.add(name, passed, f"{load.summary()}; {lost} of {acknowledged} acknowledged writes lost, "
                              f"{twice} done twice; {recovery}")


def ready_everywhere(cluster: Cluster, check) -> bool:
    for index in range(API_INSTANCES):
        try:
            status, body = call("GET", f"{cluster.api_url(index)}/readyz")
        except OSError:
            return False
        if not check(status, body):
            return False
    return True


def failures(cluster: Cluster, results: Results) -> None:
    """The failure table: each dependency or process taken away for a while under a mixed load,
    with the errors it cost and how long recovery took."""
    redis, broker, postgres = (cluster.proxies[name] for name in ("redis", "broker", "postgres"))

    def cache_up(status, body) -> bool:
        return status == 200 and body["checks"]["cache"]["status"] == "up"

    def heal_redis():
        redis.restore()
        return wait_until(lambda: ready_everywhere(cluster, cache_up), 30)
    outcome = under_load(cluster, redis.cut, heal_redis)
    recovery = outcome[1]
    failure_row(results, f"Redis down {OUTAGE_SECS} s", outcome, recovery is not None,
                f"every instance's cache up again {recovery:.1f} s after it returned"
                if recovery is not None else "the cache was still degraded 30 s after")

    waiting = []

    def heal_broker():
        last = int(sql(cluster, "SELECT coalesce(max(seq), 0) FROM outbox"))
        waiting.append(pending_events(cluster, last))
        broker.restore()
        return wait_until(lambda: pending_events(cluster, last) == 0, 60, 0.1)
    outcome = under_load(cluster, broker.cut, heal_broker)
    recovery = outcome[1]
    failure_row(results, f"{cluster.broker} down {OUTAGE_SECS} s", outcome,
                recovery is not None and waiting[0] > 0,
                f"{waiting[0]} events waited in the outbox; all published {recovery:.1f} s after it returned"
                if recovery is not None else f"{pending_events(cluster)} events still unpublished 60 s after")

    restarted = []

    def kill_api():
        cluster.processes["api1"].kill()

    def restart_api():
        started = time.monotonic()
        cluster.start_api(1)
        restarted.append(time.monotonic() - started)
        return restarted[0]
    outcome = under_load(cluster, kill_api, restart_api)
    failure_row(results, "one API instance killed (SIGKILL)", outcome, True,
                f"restarted and ready in {outcome[1]:.1f} s")

    # The active worker: the one whose relay holds the lease.
    leader = next((index for index in range(WORKERS)
                   if metric(cluster.admin_url(f"worker{index}"), "quire_relay_leader") == 1), None)
    takeover: dict[str, float | None] = {}

    def kill_worker():
        killed = time.monotonic()
        cluster.processes[f"worker{leader}"].kill()
        author = MixedLoad(cluster.lb_url, clients=1, seconds=0)
        author.prepare()
        token = author.accounts[0]["token"]
        status, body = call("POST", f"{cluster.lb_url}/api/v1/posts", {
            "title": f"Due {secrets.token_hex(3)}", "description": "d", "content": "c",
            "publishAt": rfc3339(time.time() + 1)}, token)
        assert status == 201, (status, body)
        scheduled = body["postId"]

        def relayed() -> bool:
            return sql(cluster, "SELECT count(*) FROM outbox WHERE type = 'post.created' AND "
                                f"aggregate_id = {int(scheduled)} AND sent_at IS NOT NULL") == "1"
        took = wait_until(relayed, 30, 0.1)
        takeover["relay"] = None if took is None else time.monotonic() - killed

        def published() -> bool:
            status, body = call("GET", f"{cluster.lb_url}/api/v1/posts/{scheduled}", token=token)
            return status == 200 and body["status"] == "published"
        done = wait_until(published, 30, 0.1)
        takeover["scheduler"] = None if done is None else time.monotonic() - killed

    def restart_worker():
        cluster.start_worker(leader)
    if leader is None:
        results.add("the active worker killed (SIGKILL)", False, "no worker reported holding the relay lease")
    else:
        outcome = under_load(cluster, kill_worker, restart_worker)
        relay, scheduler = takeover.get("relay"), takeover.get("scheduler")
        took_over = all(value is not None and value <= TAKEOVER_TARGET_SECS for value in (relay, scheduler))
        failure_row(results, "the active worker killed (SIGKILL)", outcome, took_over,
                    f"the standby published the outbox {relay and round(relay, 1)} s and a post due "
                    f"1 s after the kill {scheduler and round(scheduler, 1)} s after it "
                    f"(target {TAKEOVER_TARGET_SECS} s)")

    def heal_postgres():
        postgres.restore()
        token = outcome_tokens[0]

        def writes() -> bool:
            status, _ = call("GET", f"{cluster.lb_url}/api/user", token=token)
            return status == 200
        return wait_until(writes, 30, 0.05)
    outcome_tokens: list[str] = []
    load_for_token = MixedLoad(cluster.lb_url, clients=1, seconds=0)
    load_for_token.prepare()
    outcome_tokens.append(load_for_token.accounts[0]["token"])
    outcome = under_load(cluster, postgres.cut, heal_postgres, unavailable_ok=True)
    recovery = outcome[1]
    load = outcome[0]
    failure_row(results, f"PostgreSQL down {OUTAGE_SECS} s (503 with Retry-After allowed)", outcome,
                recovery is not None and recovery <= RECOVERY_TARGET_SECS and load.unavailable > 0,
                f"signed-in reads answered again {recovery:.2f} s after it returned (target "
                f"{RECOVERY_TARGET_SECS} s)" if recovery is not None else "not answering 30 s after")


def register(base: str, prefix: str) -> dict:
    """A new account through `base`: its token and username."""
    name = f"{prefix}{secrets.token_hex(4)}"
    status, body = call("POST", f"{base}/api/users", {"user": {
        "username": name, "email": f"{name}@example.com", "password": "password123"}})
    assert status == 201, (status, body)
    return {"token": body["user"]["token"], "username": name}


class Receiver:
    """A webhook endpoint on loopback that records every delivery: (webhook-id, body)."""

    def __init__(self) -> None:
        import http.server

        deliveries: list[tuple[str, dict]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the library's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                deliveries.append((self.headers.get("webhook-id", ""), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.deliveries = deliveries
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def scheduled(cluster: Cluster, results: Results) -> None:
    """A post scheduled through one instance is published once, however many API instances
    and workers run: one `post.published` event, one webhook delivery."""
    admin = f"admin{secrets.token_hex(3)}"
    subprocess.run([cluster.quire, "user", "create", "--username", admin, "--email",
                    f"{admin}@example.com", "--roles", "admin", "--password-stdin"],
                   input="quiet harbour lantern at dawn\n", env=cluster.env, cwd=cluster.work,
                   check=True, capture_output=True, text=True, timeout=60)
    status, body = call("POST", f"{cluster.lb_url}/api/users/login", {"user": {
        "email": f"{admin}@example.com", "password": "quiet harbour lantern at dawn"}})
    assert status == 200, (status, body)
    admin_token = body["user"]["token"]
    receiver = Receiver()
    try:
        status, body = call("POST", f"{cluster.lb_url}/api/v1/webhooks", {
            "url": receiver.url, "eventTypes": ["post.published"]}, admin_token)
        assert status == 201, (status, body)
        author = register(cluster.lb_url, "sched")
        due_at = time.time() + 2
        status, body = call("POST", f"{cluster.api_url(0)}/api/v1/posts", {
            "title": f"Scheduled {secrets.token_hex(3)}", "description": "d", "content": "c",
            "publishAt": rfc3339(due_at)}, author["token"])
        assert status == 201 and body["status"] == "draft", (status, body)
        post_id = body["postId"]

        # By id: a draft's slug is suffixed, and it takes the plain one when published.
        def ours() -> list[tuple[str, dict]]:
            return [delivery for delivery in list(receiver.deliveries)
                    if ((delivery[1] or {}).get("data") or {}).get("id") == post_id]
        first = wait_until(lambda: bool(ours()), 30, 0.05)
        delivered_after = time.time() - due_at
        # Anything done twice would come within the relay's and the scheduler's next looks.
        time.sleep(3)
        deliveries = ours()
        events = int(sql(cluster, "SELECT count(*) FROM outbox WHERE type = 'post.published' "
                                  f"AND aggregate_id = {int(post_id)}"))
        ids = {webhook_id for webhook_id, _ in deliveries}
        results.add(f"a scheduled post with {API_INSTANCES} API instances and {WORKERS} workers",
                    first is not None and events == 1 and len(deliveries) == 1,
                    f"{events} post.published event, {len(deliveries)} webhook delivery "
                    f"({len(ids)} distinct id), delivered {delivered_after:.1f} s after it fell due"
                    if first is not None else f"{events} events; no delivery within 30 s")
    finally:
        receiver.close()


#: How late a subscriber may hear a comment (the acceptance).
SUBSCRIPTION_TARGET_SECS = 1.0


def subscription(cluster: Cluster, results: Results) -> None:
    """A GraphQL subscription on instance C hears comments posted through instance A, and one
    through nginx (the WebSocket upgrade passes the balancer)."""
    from websockets.sync.client import connect

    author = register(cluster.api_url(0), "speaker")
    listener = register(cluster.api_url(0), "listener")
    status, body = call("POST", f"{cluster.api_url(0)}/api/v1/posts", {
        "title": f"Heard {secrets.token_hex(3)}", "description": "d", "content": "c"}, author["token"])
    assert status == 201, (status, body)
    post_id, slug = body["postId"], body["slug"]

    def listen(base: str, comments: int) -> list[float | None]:
        url = base.replace("http://", "ws://") + "/graphql"
        heard: list[float | None] = []
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as socket_:
            socket_.send(json.dumps({"type": "connection_init",
                                     "payload": {"Authorization": f"Bearer {listener['token']}"}}))
            assert json.loads(socket_.recv(timeout=10))["type"] == "connection_ack"
            socket_.send(json.dumps({"id": "c", "type": "subscribe", "payload": {
                "query": "subscription($p: ID!) { commentAdded(postId: $p) { body } }",
                "variables": {"p": str(post_id)}}}))
            # The protocol does not say when a subscription starts listening: the first
            # comments may go unheard; the first heard starts the count.
            attempts = 0
            while len(heard) < comments and attempts < comments + 20:
                attempts += 1
                text = f"comment {attempts} {secrets.token_hex(3)}"
                started = time.monotonic()
                status, _ = call("POST", f"{cluster.api_url(0)}/api/articles/{slug}/comments",
                                 {"comment": {"body": text}}, author["token"])
                assert status == 201, status
                got = None
                while time.monotonic() - started < SUBSCRIPTION_TARGET_SECS * 2:
                    try:
                        message = json.loads(socket_.recv(timeout=SUBSCRIPTION_TARGET_SECS * 2))
                    except TimeoutError:
                        break
                    if message.get("payload", {}).get("data", {}).get("commentAdded", {}).get("body") == text:
                        got = time.monotonic() - started
                        break
                if got is not None or heard:
                    heard.append(got)
        return heard

    direct = listen(cluster.api_url(2), 10)
    slowest = max((latency for latency in direct if latency is not None), default=None)
    missed = sum(1 for latency in direct if latency is None or latency > SUBSCRIPTION_TARGET_SECS)
    results.add("a GraphQL subscription on instance C hears comments posted through A",
                bool(direct) and missed == 0,
                f"{len(direct) - missed} of {len(direct)} heard within {SUBSCRIPTION_TARGET_SECS:.0f} s, "
                f"slowest {slowest * 1000:.0f} ms" if slowest is not None else "none heard")
    balanced = listen(cluster.lb_url, 3)
    results.add("a GraphQL subscription through nginx (WebSocket upgrade) hears them too",
                bool(balanced) and all(latency is not None for latency in balanced),
                f"{sum(1 for latency in balanced if latency is not None)} of {len(balanced)} heard")


def fuzz(cluster: Cluster, results: Results) -> None:
    """schemathesis on /api/v1 through nginx: no request answered with a 5xx."""
    who = register(cluster.lb_url, "fuzzer")
    status, body = call("POST", f"{cluster.lb_url}/api/v1/sessions", {
        "email": f"{who['username']}@example.com", "password": "password123"})
    assert status == 201, (status, body)
    run = subprocess.run(
        ["schemathesis", "run", f"{cluster.lb_url}/api/v1/openapi.json", "-H", f"Authorization: Bearer {body['token']}",
         "--checks", "not_a_server_error", "--phases", "examples,coverage,fuzzing,stateful",
         "--max-examples", "30", "--seed", "20261130", "--no-color"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    output = run.stdout + run.stderr
    (cluster.work / "schemathesis.txt").write_text(output)
    summary = next((line.strip() for line in reversed(output.splitlines()) if "generated" in line
                    or "passed" in line or "failed" in line), f"schemathesis exited {run.returncode}")
    results.add("schemathesis on /api/v1 through nginx: no 5xx", run.returncode == 0, summary)


SCENARIOS = {"realworld": realworld, "convergence": convergence, "subscription": subscription,
             "scheduled": scheduled, "schemathesis": fuzz, "rolling-restart": rolling_restart,
             "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quire", help="the quire binary")
    parser.add_argument("--proxy", nargs=2, metavar=("PORT", "UPSTREAM"), help=argparse.SUPPRESS)
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    args = parser.parse_args()
    if args.proxy:
        run_proxy(int(args.proxy[0]), args.proxy[1])
        return 0
    if not args.quire:
        parser.error("--quire is required")
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
