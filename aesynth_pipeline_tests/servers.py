"""Real servers for the cluster tests, each started as the test's own process on a free
loopback port and stopped at the end however the test ends: PostgreSQL from Debian's
`postgresql` package, Redis from its `redis-server` package, and Celery workers running
aesynth_pipeline.worker."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

START_SECONDS = 60
STOP_SECONDS = 20
# initdb and the server refuse to run as root (as CI runs); Debian's package makes this user.
POSTGRES_USER = "postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_program(name: str) -> str:
    # Debian keeps initdb and pg_ctl out of PATH, in the folder of each installed version.
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        pytest.fail(f"{name} not found: install Debian's postgresql package")
    return found


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", POSTGRES_USER, "--", *command]
    return command


def _private_folder(prefix: str) -> Path:
    """A new folder the server's user owns (pytest's own folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, POSTGRES_USER, POSTGRES_USER)
    return folder


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    host: str = "127.0.0.1"

    def connect(self, database: str = "postgres"):
        # Imported here, as below: the clients come with the `cluster` extra, and `make test`
        # collects this module without it.
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        try:
            # CREATE DATABASE cannot run inside a transaction.
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def environment(self, database: str) -> dict[str, str]:
        """The variables deploy/cluster-instance.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A throwaway PostgreSQL server: a new cluster in a temporary folder, password login only,
    listening on loopback."""
    folder = _private_folder("aesynth-postgres-")
    server = Postgres(port=free_port(), user="aesynth", password=secrets.token_hex(16))
    password_file = folder / "password"
    password_file.write_text(server.password)
    if os.geteuid() == 0:
        shutil.chown(password_file, POSTGRES_USER, POSTGRES_USER)
    data, log = folder / "data", folder / "server.log"
    pg_ctl = _as_server_user([_postgres_program("pg_ctl"), "--pgdata", str(data)])
    subprocess.run(
        _as_server_user(
            [
                _postgres_program("initdb"),
                "--pgdata",
                str(data),
                "--username",
                server.user,
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                # A test's database is thrown away: nothing to gain from waiting on the disk.
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    try:
        subprocess.run(
            [*pg_ctl, "--log", str(log), "--options", options, "--wait", "start"],
            check=True,
            capture_output=True,
            timeout=START_SECONDS,
        )
        yield server
    finally:
        subprocess.run(
            [*pg_ctl, "--mode", "immediate", "--wait", "stop"],
            capture_output=True,
            timeout=STOP_SECONDS,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A Redis server with a password and nothing saved to disk; yields its URL."""
    import redis

    port, password = free_port(), secrets.token_hex(16)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    with (folder / "redis.log").open("w") as log:
        server = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port)]
            + ["--requirepass", password, "--save", "", "--appendonly", "no"]
            + ["--dir", str(folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        client = redis.Redis.from_url(url)
        while True:
            if server.poll() is not None:
                pytest.fail(f"redis-server exited: {(folder / 'redis.log').read_text()[-2000:]}")
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
        yield url
    finally:
        _stop(server)


@contextlib.contextmanager
def celery_workers(
    names: list[str], environment: Mapping[str, str], folder: Path
) -> Iterator[dict[str, subprocess.Popen]]:
    """Celery workers of aesynth_pipeline.worker, one step at a time each, each in its own
    process group; yields them by name once every one of them is ready for tasks."""
    workers: dict[str, subprocess.Popen] = {}
    try:
        for name in names:
            with (folder / f"{name}.log").open("w") as log:
                workers[name] = subprocess.Popen(
                    [sys.executable, "-m", "celery", "--app", "aesynth_pipeline.worker"]
                    + ["worker", "--hostname", f"{name}@%h", "--concurrency", "1"]
                    + ["--pool", "prefork", "--without-gossip", "--without-mingle"]
                    + ["--loglevel", "INFO"],
                    env=dict(environment),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + START_SECONDS
        for name, worker in workers.items():
            while " ready." not in worker_log(folder, name):
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker {name} did not start:\n{worker_log(folder, name)[-3000:]}")
                time.sleep(0.2)
        yield workers
    finally:
        for worker in workers.values():
            _stop(worker, group=True)


def worker_log(folder: Path, name: str) -> str:
    return (folder / f"{name}.log").read_text()


def _stop(process: subprocess.Popen, group: bool = False) -> None:
    def send(signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal_number)
            else:
                process.send_signal(signal_number)

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait()
    if group:
        # A worker's pool processes, should any outlive it.
        send(signal.SIGKILL)
