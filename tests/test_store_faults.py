"""Faults of the store, made for real (no mocks): a full disk (a small file system), a write
refused for the file's size (RLIMIT_FSIZE: SQLite gets EFBIG and reports a disk I/O error,
not a full disk), a store the connector may not write, a damaged file, a PostgreSQL server
out of reach. Each ends in one sentence naming the file (or database) and what to do, exit
code 1, no traceback and no SQL; ``doctor`` reports a damaged file and a store behind or
ahead of the code without changing it; the daemon logs the sentence and carries on.

We run as root, which writes whatever the file modes say: the runs that must not write drop
the capability to override them (``setpriv``), or see the store's folder through a read-only
bind mount or on a small file system of their own (``unshare``, a mount namespace that ends
with the process)."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text

from skn_connector.adapters.registry import resolve_adapter_class
from skn_connector.config import load_settings
from skn_connector.demo import Scenario, saldoverzoek_json, scenarios, write_config
from skn_connector.node.simulator import Simulator
from skn_connector.service.daemon import run_once
from skn_connector.service.wiring import connector

from .factories import store_on

REPO = Path(__file__).resolve().parents[1]
#: a store made by the release before the SE-Service header: schema revision 0005
OLD_STORE = Path(__file__).parent / "fixtures" / "store-0005.sqlite"
CLI = str(Path(sys.executable).parent / "skn-connector")
#: words of SQL that must never reach the person reading the error
SQL = re.compile(r"\b(INSERT|SELECT|UPDATE|DELETE|PRAGMA|VALUES|WHERE)\b")


class World:
    """A simulator, the sample back-office and a configuration in ``workdir``; the store is
    ``workdir/store/skn-connector.db``."""

    def __init__(self, workdir: Path, node: Simulator, config: Path, mix: list[Scenario]) -> None:
        self.workdir, self.node, self.config, self.mix = workdir, node, config, mix
        self.db = workdir / "store" / "skn-connector.db"
        self.admin = httpx.Client(base_url=node.admin_url, timeout=10)
        self.queued = 0
        self.store_url = f"sqlite:///{self.db}"

    def use_store(self, url: str) -> None:
        text_ = self.config.read_text()
        assert f'url = "{self.store_url}"' in text_
        self.config.write_text(text_.replace(f'url = "{self.store_url}"', f'url = "{url}"'))
        self.store_url = url

    def queue(self, count: int) -> None:
        for _ in range(count):
            self.queued += 1
            request = saldoverzoek_json(self.mix[self.queued % len(self.mix)], self.queued)
            self.admin.post("/_admin/messages", json=request).raise_for_status()

    def work(self, count: int) -> None:
        """``count`` messages through the connector, in this process."""
        self.queue(count)
        with connector(load_settings(self.config)) as pipeline:
            summary = run_once(pipeline, max_wait=10)
        assert summary.ok and summary.fetched == count, summary.errors

    def cli(
        self,
        *args: str,
        preexec: Callable[[], None] | None = None,
        wrapper: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        """``skn-connector ARGS --config ...`` as a child process (started by ``wrapper``)."""
        return subprocess.run(
            [*wrapper, CLI, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=preexec,
            check=False,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    (tmp_path / "store").mkdir()
    backoffice = resolve_adapter_class("gemeentebelastingen").create_sample(tmp_path / "backoffice")
    with Simulator(port=0, tls_dir=tmp_path / "tls") as node:
        config = write_config(tmp_path, node, backoffice.options)
        store_on(config, tmp_path, f"sqlite:///{tmp_path / 'store' / 'skn-connector.db'}")
        world = World(tmp_path, node, config, scenarios(backoffice.debtors))
        try:
            yield world
        finally:
            world.admin.close()


def the_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one sentence a failed command printed; no traceback, no SQL, exit code ``code``."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("skn-connector:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert not SQL.search(result.stderr), result.stderr
    assert result.returncode == code, result.stderr
    return lines[0]


def doctor_lines(result: subprocess.CompletedProcess[str], status: str) -> list[str]:
    """The store's lines of a doctor's report with ``status`` (OK, WARN, FAIL)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    return [line for line in lines if line.split()[:2] == [status, "store"]]


def revision_of(url: str) -> str | None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def limit_file_size(limit: int) -> Callable[[], None]:
    """For a child process: no file may grow past ``limit`` bytes (a write beyond fails with
    EFBIG instead of killing the process)."""

    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


#: Root, but held to the file modes like any other user (who is held to them anyway).
WITHOUT_OVERRIDE = (
    ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--") if os.geteuid() == 0 else ()
)


def _works(*command: str) -> bool:
    try:
        done = subprocess.run([*command, "true"], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0


def require_a_mount_namespace() -> None:
    """Mounting in a namespace of its own needs CAP_SYS_ADMIN (root here, and in CI on this
    machine). Where it is not permitted the test fails, saying so: a real fault is not
    skipped."""
    if not _works("unshare", "--mount"):
        pytest.fail(
            "unshare --mount is not permitted here; this test mounts a small file system in "
            "a namespace of its own (run it as root with CAP_SYS_ADMIN)",
            pytrace=False,
        )


def in_namespace(script: str, folder: Path) -> tuple[str, ...]:
    """Run the command after ``script`` (sh, with $D the store's folder) in a mount
    namespace of its own: what it mounts is gone when the process ends."""
    return ("unshare", "--mount", "sh", "-ec", f'{script}; shift; exec "$@"', "sh", str(folder))


def page_size_and_count(db: Path) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        count = connection.execute("PRAGMA page_count").fetchone()[0]
    return int(size), int(count)


def overwrite_page(db: Path, page: int) -> None:
    size, _ = page_size_and_count(db)
    with db.open("r+b") as file:
        file.seek((page - 1) * size)
        file.write(b"\xa5" * size)


def next_inbox_page(db: Path) -> int:
    """The page the next received message is written to: the last leaf of the inbox table.
    (A page chosen at random may be one no run reads again; ``doctor`` finds it anyway.)"""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        row = connection.execute(
            "SELECT pageno FROM dbstat WHERE name = 'inbox' AND pagetype = 'leaf' "
            "ORDER BY path DESC LIMIT 1"
        ).fetchone()
    return int(row[0])


DAMAGED = "the store {db} is damaged: restore it from a backup (docs/operations.md)"


def test_a_full_disk_ends_in_one_sentence(world: World) -> None:
    require_a_mount_namespace()
    world.work(20)
    world.queue(300)
    room = world.db.stat().st_size + 256 * 1024  # the store and a little room to grow
    copy = world.workdir / "copy"
    shutil.copytree(world.db.parent, copy)
    # the run sees the store's folder on a file system of its own that fills up
    script = f'mount -t tmpfs -o size={room},mode=0700 tmpfs "$1"; cp -a {copy}/. "$1"/'
    line = the_error(
        world.cli("run", "--once", "--max-wait", "5", wrapper=in_namespace(script, world.db.parent))
    )
    assert (
        line
        == f"skn-connector: the disk of the store {world.db} is full: free space, then run again"
    )


def test_a_write_refused_for_the_file_size_ends_in_one_sentence(world: World) -> None:
    world.work(20)
    world.queue(300)
    # the store may not grow: the next messages cannot be stored
    limit = limit_file_size(world.db.stat().st_size)
    line = the_error(world.cli("run", "--once", "--max-wait", "5", preexec=limit))
    assert line.startswith(f"skn-connector: writing the store {world.db} failed"), line
    assert "free space" in line


@pytest.mark.parametrize("how", ["read-only files", "a read-only file system"])
def test_a_store_the_connector_may_not_write_ends_in_one_sentence(world: World, how: str) -> None:
    if how == "a read-only file system":
        require_a_mount_namespace()
    world.work(20)
    world.queue(5)
    if how == "read-only files":
        for path in world.db.parent.iterdir():
            path.chmod(0o444)
        world.db.parent.chmod(0o555)
        wrapper: tuple[str, ...] = WITHOUT_OVERRIDE
    else:
        wrapper = in_namespace(
            'mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"', world.db.parent
        )
    try:
        for args in (["run", "--once", "--max-wait", "5"], ["messages", "list"]):
            line = the_error(world.cli(*args, wrapper=wrapper))
            assert line.startswith(f"skn-connector: the store {world.db} cannot be written"), line
    finally:
        world.db.parent.chmod(0o700)
    assert world.admin.get("/_admin/sent").json()[20:] == []


def test_doctor_finds_a_damaged_page_wherever_it_is(world: World) -> None:
    world.work(300)
    _, pages = page_size_and_count(world.db)
    overwrite_page(world.db, pages // 2)
    doctor = world.cli("doctor")
    assert doctor.returncode == 1, doctor.stdout
    failed = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, doctor.stdout
    assert failed[0].split()[1] == "store" and DAMAGED.format(db=world.db) in failed[0]
    assert "Traceback" not in doctor.stderr


def test_a_run_on_a_damaged_store_ends_in_one_sentence(world: World) -> None:
    world.work(300)
    overwrite_page(world.db, next_inbox_page(world.db))
    world.queue(5)
    line = the_error(world.cli("run", "--once", "--max-wait", "5"))
    assert line == "skn-connector: " + DAMAGED.format(db=world.db)


def test_a_file_that_is_no_database_ends_in_one_sentence(world: World) -> None:
    world.work(5)
    with world.db.open("r+b") as file:
        file.write(b"not a database, " * 8)
    for args in (["run", "--once", "--max-wait", "5"], ["holds", "list"], ["audit", "verify"]):
        line = the_error(world.cli(*args))
        assert line == "skn-connector: " + DAMAGED.format(db=world.db)


def test_the_daemon_logs_a_store_fault_and_carries_on(world: World) -> None:
    world.work(300)
    overwrite_page(world.db, next_inbox_page(world.db))
    world.config.write_text(
        world.config.read_text().replace(
            'poll_interval = "1m"', 'poll_interval = "1s"\ndeliver_interval = "1s"'
        )
    )
    world.queue(5)
    log = world.workdir / "daemon.log"
    with log.open("w") as stderr:
        daemon = subprocess.Popen(
            [CLI, "run", "--config", str(world.config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    try:
        deadline = time.monotonic() + 60
        while log.read_text().count("is damaged") < 2:  # two rounds failed, and it still runs
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text and not SQL.search(text), text
    assert DAMAGED.format(db=world.db) in text


# -- doctor looks at the store as it is -----------------------------------------------------


def test_doctor_reports_a_store_behind_or_ahead_of_the_code_and_changes_neither(
    world: World,
) -> None:
    shutil.copy(OLD_STORE, world.db)
    url = f"sqlite:///{world.db}"
    doctor = world.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout
    (warned,) = doctor_lines(doctor, "WARN")
    assert "is at schema revision 0005" in warned and "the next start migrates it" in warned
    assert revision_of(url) == "0005"

    with contextlib.closing(sqlite3.connect(world.db)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    doctor = world.cli("doctor")
    assert doctor.returncode == 1
    (failed,) = doctor_lines(doctor, "FAIL")
    assert f"the store {world.db} was made by a newer release of skn-connector" in failed
    line = the_error(world.cli("run", "--once", "--max-wait", "5"), code=2)
    assert "was made by a newer release" in line and "schema revision 0099" in line
    assert revision_of(url) == "0099"


def test_doctor_on_postgresql_checks_the_connection_and_the_revision(
    world: World, postgres_url: str
) -> None:
    world.use_store(postgres_url)
    database = make_url(postgres_url).database
    doctor = world.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert doctor_lines(doctor, "OK") == [
        f"OK    store                the PostgreSQL database {database} on 127.0.0.1:5432 is "
        "empty; the first start creates its tables"
    ]
    assert revision_of(postgres_url) is None  # doctor made nothing

    config = Config()
    config.set_main_option("script_location", str(REPO / "skn_connector/store/migrations"))
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    doctor = world.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout
    (warned,) = doctor_lines(doctor, "WARN")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert f"is at schema revision 0005, this release's newest is {head}" in warned
    assert revision_of(postgres_url) == "0005"

    world.work(3)  # the next start migrates it
    doctor = world.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert any(
        "its schema is at the newest revision" in line for line in doctor_lines(doctor, "OK")
    )
    assert any("the audit trail verifies" in line for line in doctor_lines(doctor, "OK"))

    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    (failed,) = doctor_lines(world.cli("doctor"), "FAIL")
    assert "was made by a newer release of skn-connector" in failed
    the_error(world.cli("messages", "list"), code=2)


def test_a_postgresql_store_that_cannot_be_reached_ends_in_one_sentence(
    world: World, postgres_url: str
) -> None:
    world.use_store("postgresql://skn:pw-83hd71@127.0.0.1:1/skn")  # nothing listens on port 1
    line = the_error(world.cli("run", "--once", "--max-wait", "5"))
    assert line == (
        "skn-connector: the PostgreSQL database skn on 127.0.0.1:1 cannot be reached: start "
        "its server or check the network and store.url, then run again"
    )
    doctor = world.cli("doctor")
    assert doctor.returncode == 1
    (failed,) = doctor_lines(doctor, "FAIL")
    assert "the PostgreSQL database skn on 127.0.0.1:1 cannot be reached" in failed
    assert "pw-83hd71" not in doctor.stdout + doctor.stderr

    missing = make_url(postgres_url).set(database="skn_no_such_database")
    world.use_store(missing.render_as_string(hide_password=False))
    line = the_error(world.cli("messages", "list"), code=2)
    assert line == (
        "skn-connector: the PostgreSQL database skn_no_such_database on 127.0.0.1:5432 does "
        "not exist: create it (createdb skn_no_such_database), or correct store.url"
    )
    stranger = make_url(postgres_url).set(username="skn_no_such_role", password="pw-83hd71")
    world.use_store(stranger.render_as_string(hide_password=False))
    result = world.cli("messages", "list")
    line = the_error(result, code=2)
    assert line.startswith("skn-connector: 127.0.0.1:5432 refused the connection to the ")
    assert "correct the user or password in store.url" in line
    assert "pw-83hd71" not in result.stderr
