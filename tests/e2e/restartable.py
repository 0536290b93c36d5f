"""Dependencies a fault test owns and breaks: its own Redis, PostgreSQL cluster and S3
(moto's server), each on a free loopback port, never the shared ones.

Each can be *killed* (the process is gone: connections refused or reset), started again
on the same port, and S3 can also be *hung* (SIGSTOP: the kernel still accepts
connections, nothing answers). A binary that is missing skips the test on a developer
machine and fails it under ``CI=true`` (``tests/services.py``).

moto keeps its objects in memory, and a real S3 outage does not lose data, so the S3 the
service sees is a TCP forwarder in a process of its own in front of moto: killing the
forwarder is the outage (the address refuses connections), and moto, with everything
written so far, is there when the forwarder comes back on the same port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import free_port, require_service, tcp_open

# A relay of every connection on the listening port to the target port, byte for byte.
FORWARDER = """
import asyncio, sys

listen, target = int(sys.argv[1]), int(sys.argv[2])

async def pipe(reader, writer):
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
    except (OSError, RuntimeError):
        writer.close()

async def relay(reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        writer.close()
        return
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
    writer.close()
    up_writer.close()

async def main():
    server = await asyncio.start_server(relay, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def binary(name: str, *extra_dirs: str) -> str:
    """The path of ``name`` on PATH or in ``extra_dirs`` (newest first); skip or fail."""
    found = shutil.which(name)
    for folder in extra_dirs:
        found = found or shutil.which(name, path=folder)
    require_service(name, found is not None, f"no `{name}` on PATH or in {list(extra_dirs)}")
    assert found is not None
    return found


def wait_port(port: int, up: bool, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while tcp_open("127.0.0.1", port) != up:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} on port {port} did not come {'up' if up else 'down'}")
        time.sleep(0.05)


@dataclass
class Daemon:
    """One server process of ours on a fixed port: start, kill, start again."""

    name: str
    command: list[str]
    port: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.popen is None, f"{self.name} is running"
        with self.log.open("ab") as handle:
            self.popen = subprocess.Popen(
                self.command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_port(self.port, True, self.name)

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown (a stopped process is woken first)."""
        if self.popen is None:
            return
        self.popen.send_signal(signal.SIGCONT)
        self.popen.kill()
        self.popen.wait(10)
        self.popen = None
        wait_port(self.port, False, self.name)

    def hang(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)


def redis_server(folder: Path) -> Daemon:
    """A Redis without persistence: a restart loses every queued message."""
    port = free_port()
    command = [
        binary("redis-server"),
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(folder),
    ]  # fmt: skip
    return Daemon("redis", command, port, folder / "redis.log")


@dataclass
class S3:
    """moto's server on a private port, reached through a forwarder on the public one."""

    moto: Daemon
    forwarder: Daemon

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.forwarder.port}"

    def start(self) -> None:
        self.moto.start()
        self.forwarder.start()

    def stop(self) -> None:
        self.forwarder.kill()
        self.moto.kill()

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")
        client.create_bucket(Bucket=name)


def s3_server(folder: Path) -> S3:
    moto_port, port = free_port(), free_port()
    moto_command = [
        sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port),
    ]  # fmt: skip
    forward = [sys.executable, "-c", FORWARDER, str(port), str(moto_port)]
    return S3(
        moto=Daemon("moto", moto_command, moto_port, folder / "moto.log"),
        forwarder=Daemon("s3-forwarder", forward, port, folder / "forwarder.log"),
    )


POSTGRES_BIN_DIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own (``initdb`` in a temporary folder, trust auth).

    PostgreSQL refuses to run as root; as root the cluster belongs to the ``postgres``
    user (Debian's package creates it) and its commands run through ``runuser``.
    """

    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.initdb = binary("initdb", *POSTGRES_BIN_DIRS)
        self.pg_ctl = binary("pg_ctl", *POSTGRES_BIN_DIRS)
        self.as_user: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                require_service("PostgreSQL", False, "running as root and no `postgres` user")
            self.as_user = [binary("runuser"), "-u", "postgres", "--"]
        # Not under pytest's tmp_path: its parents are private to the user running pytest.
        self.folder = Path(tempfile.mkdtemp(prefix="relearn-pg-"))
        if owner is not None:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/relearn"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True)
        assert done.returncode == 0, f"{args[:2]} failed:\n{done.stdout}\n{done.stderr}"

    def create(self) -> None:
        """initdb, start, and an empty ``relearn`` database."""
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        from sqlalchemy import create_engine, text

        admin = create_engine(
            self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE relearn"))
        admin.dispose()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=100"
        )
        log = str(self.folder / "postgres.log")
        self._run(self.pg_ctl, "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        wait_port(self.port, True, "postgres")

    def crash(self) -> None:
        """What ``pg_ctl stop -m immediate`` does, without its start-up delay: SIGQUIT to
        the postmaster, every backend gone at once, crash recovery at the next start."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)
        wait_port(self.port, False, "postgres")
        deadline = time.monotonic() + 30
        while (self.data / "postmaster.pid").exists():
            assert time.monotonic() < deadline, "postgres did not stop"
            time.sleep(0.05)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
