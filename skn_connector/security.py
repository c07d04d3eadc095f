"""Security duties: ``doctor``, certificate expiry, storing a secret in the keyring, the
audit trail's integrity, and the retention of personal data.

Every function here reports problems as one sentence without personal data or secret
values. Heavy imports (the daemon, the adapters) happen inside the functions that need
them, so that ``service.daemon`` may import this module for the start-up check.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from cryptography import x509
from sqlalchemy import func, select, text

from .node.client import NodeSetupError, NodeTLSError
from .secrets import (
    KEYRING_SERVICE,
    SECRET_PREFIX,
    env_var_name,
    is_secret_ref,
    secret_file,
    secret_name,
)
from .store.db import AUDIT_HEAD_KEY, GENESIS_HASH, audit_hash, sqlite_path
from .store.schema import (
    AuditEntry,
    Conversation,
    InboxMessage,
    Meta,
    OutboxMessage,
    QuarantinedMessage,
    Task,
)

if TYPE_CHECKING:
    from .config import Settings
    from .store.db import Store

#: Warn this many days before a certificate expires.
WARN_DAYS: Final = 30
#: The default retention of personal data after a conversation ended: ``[retention]``.
DEFAULT_RETENTION_MONTHS: Final = 12
#: The conversation states after which nothing more happens (engine/rules/conversations.toml).
FINAL_STATES: Final = frozenset({"BEEINDIGD", "GEEN_MEDEWERKING", "AFGEROND", "BEWIND_BEEINDIGD"})
#: The meta key of the audit trail's head (``"<id> <hash>"``), written by ``Store.audit``.
#: What a purged message's bytes start with; the rest names the original's digest.
PURGED_PREFIX: Final = b"skn-connector:purged\n"

CheckStatus = Literal["ok", "warn", "fail", "skip"]


# -- certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateStatus:
    """One certificate's validity at ``now``: ``status`` ok, warn (expires within the warning
    period) or fail (expired, or not yet valid)."""

    label: str
    subject: str
    not_before: datetime
    not_after: datetime
    days_left: float
    status: CheckStatus
    message: str


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def certificate_status(
    cert: x509.Certificate,
    label: str,
    *,
    now: datetime | None = None,
    warn_days: int = WARN_DAYS,
) -> CertificateStatus:
    now = now or datetime.now(UTC)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    days_left = (not_after - now).total_seconds() / 86400
    status: CheckStatus
    if now < not_before:
        status, message = "fail", f"{label} is not valid before {_when(not_before)}"
    elif now >= not_after:
        status, message = "fail", f"{label} expired on {_when(not_after)}"
    elif days_left < warn_days:
        status = "warn"
        message = f"{label} expires in {math.floor(days_left)} days, on {_when(not_after)}"
    else:
        status = "ok"
        message = f"{label} is valid until {_when(not_after)} ({math.floor(days_left)} days)"
    return CertificateStatus(
        label=label,
        subject=cert.subject.rfc4514_string(),
        not_before=not_before,
        not_after=not_after,
        days_left=days_left,
        status=status,
        message=message,
    )


def _certificates_in(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def certificate_days_left(path: Path, now: datetime | None = None) -> float:
    """Days until the first certificate in ``path`` expires (negative once expired): a gauge."""
    cert = _certificates_in(path)[0]
    now = now or datetime.now(UTC)
    return (cert.not_valid_after_utc - now).total_seconds() / 86400


def certificate_statuses(
    settings: Settings, *, now: datetime | None = None, warn_days: int = WARN_DAYS
) -> list[CertificateStatus]:
    """The client certificate and every CA in ``node.tls.trust``; OSError or ValueError when a
    file cannot be read or holds no PEM certificate."""
    tls = settings.node.tls
    if tls is None:
        return []
    statuses = [
        certificate_status(
            _certificates_in(tls.certificate)[0],
            "the client certificate node.tls.certificate",
            now=now,
            warn_days=warn_days,
        )
    ]
    for cert in _certificates_in(tls.trust):
        statuses.append(
            certificate_status(
                cert,
                f"the CA {_common_name(cert)!r} in node.tls.trust",
                now=now,
                warn_days=warn_days,
            )
        )
    return statuses


def certificate_expiry_days(settings: Settings, now: datetime | None = None) -> dict[str, float]:
    """For metrics: days to expiry per certificate, keyed ``client`` and ``trust:<CN>``.

    A file that cannot be read is left out (``doctor`` names it)."""
    tls = settings.node.tls
    if tls is None:
        return {}
    now = now or datetime.now(UTC)
    days: dict[str, float] = {}
    with contextlib.suppress(OSError, ValueError, IndexError):
        days["client"] = certificate_days_left(tls.certificate, now)
    with contextlib.suppress(OSError, ValueError):
        for cert in _certificates_in(tls.trust):
            days[f"trust:{_common_name(cert)}"] = (
                cert.not_valid_after_utc - now
            ).total_seconds() / 86400
    return days


def refuse_invalid_client_certificate(certificate: Path, now: datetime | None = None) -> None:
    """Refuse to start with an expired or not yet valid client certificate (NodeSetupError).

    A file that cannot be read passes here: ``build_ssl_context`` names that problem.
    """
    try:
        cert = _certificates_in(certificate)[0]
    except (OSError, ValueError, IndexError):
        return
    status = certificate_status(cert, "the client certificate node.tls.certificate", now=now)
    if status.status == "fail":
        raise NodeSetupError(f"{status.message}; install a renewed certificate at {certificate}")


# -- doctor ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One line of ``doctor``: what was checked, its status and one sentence."""

    area: str
    status: CheckStatus
    message: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(1 for c in self.checks if c.status == "fail")

    @property
    def warnings(self) -> int:
        return sum(1 for c in self.checks if c.status == "warn")

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def add(self, area: str, status: CheckStatus, message: str) -> None:
        self.checks.append(Check(area, status, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failures": self.failures,
            "warnings": self.warnings,
            "checks": [asdict(c) for c in self.checks],
        }


def _secret_refs(value: Any) -> Iterator[str]:
    if isinstance(value, str) and is_secret_ref(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_refs(item)


def _check_what_run_builds(report: DoctorReport, settings: Settings, insecure_dev: bool) -> None:
    """The parts run builds, built as config check builds them: what passes, run takes."""
    from .adapters.registry import AdapterLoadError
    from .config import ConfigError
    from .node.client import NodeSetupError
    from .secrets import SecretError
    from .service.wiring import check_settings
    from .store.db import StoreError

    try:
        check_settings(settings, insecure_dev=insecure_dev)
    except (ConfigError, SecretError, AdapterLoadError, StoreError, NodeSetupError) as exc:
        report.add("settings", "fail", f"run would refuse this configuration: {exc}")
    else:
        report.add("settings", "ok", "run takes this configuration (as config check does)")


def _check_credentials(report: DoctorReport, settings: Settings) -> None:
    from .node.client import _load_key, _public_der, build_ssl_context
    from .secrets import SecretError, resolve_secret

    for adapter in settings.adapters:
        for reference in _secret_refs(adapter.options):
            try:
                resolve_secret(reference)
            except SecretError as exc:
                report.add("credentials", "fail", f"adapter {adapter.name!r}: {exc}")
            else:
                report.add("credentials", "ok", f"adapter {adapter.name!r}: {reference} resolves")
    tls = settings.node.tls
    if tls is None:
        report.add(
            "credentials",
            "skip",
            "node.url is plain http: no client certificate (a local simulator only)",
        )
        return
    password: bytes | None = None
    if tls.private_key_password:
        try:
            password = resolve_secret(tls.private_key_password).encode("utf-8")
        except SecretError as exc:
            report.add("credentials", "fail", f"node.tls.private_key_password: {exc}")
            return
        report.add(
            "credentials",
            "ok",
            f"node.tls.private_key_password ({tls.private_key_password}) resolves",
        )
    try:
        cert = x509.load_pem_x509_certificate(tls.certificate.read_bytes())
    except OSError as exc:
        report.add(
            "credentials",
            "fail",
            f"the client certificate file {tls.certificate} cannot be read ({exc.strerror})",
        )
        return
    except ValueError:
        report.add(
            "credentials",
            "fail",
            f"the client certificate file {tls.certificate} holds no PEM certificate",
        )
        return
    try:
        key = _load_key(tls.private_key, tls.private_key.read_bytes(), password)
    except OSError as exc:
        report.add(
            "credentials",
            "fail",
            f"the private key file {tls.private_key} cannot be read ({exc.strerror})",
        )
        return
    except NodeTLSError as exc:
        report.add("credentials", "fail", str(exc))
        return
    report.add("credentials", "ok", f"the private key {tls.private_key} loads")
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        report.add(
            "credentials",
            "fail",
            f"the private key {tls.private_key} does not match the certificate {tls.certificate}",
        )
        return
    report.add("credentials", "ok", "the client certificate and the private key match")
    try:
        build_ssl_context(
            tls.certificate,
            tls.private_key,
            tls.trust,
            password.decode("utf-8") if password is not None else None,
        )
    except NodeTLSError as exc:
        report.add("credentials", "fail", str(exc))
        return
    report.add("credentials", "ok", "the TLS context (certificate, key, trust) loads")


def _check_permissions(report: DoctorReport, settings: Settings) -> None:
    exposed = exposed_files(settings)
    for sentence in exposed:
        report.add("permissions", "warn", sentence)
    if not exposed:
        report.add(
            "permissions",
            "ok",
            "no private key, secret file, store or configuration is open to group or others",
        )


def _check_certificates(
    report: DoctorReport, settings: Settings, now: datetime, warn_days: int
) -> None:
    tls = settings.node.tls
    if tls is None:
        report.add("certificates", "skip", "node.url is plain http: no certificates to check")
        return
    for label, path in (("node.tls.certificate", tls.certificate), ("node.tls.trust", tls.trust)):
        try:
            found = _certificates_in(path)
        except OSError as exc:
            report.add("certificates", "fail", f"{label}: {path} cannot be read ({exc.strerror})")
            return
        except ValueError:
            found = []
        if not found:
            report.add("certificates", "fail", f"{label}: {path} holds no PEM certificate")
            return
    for status in certificate_statuses(settings, now=now, warn_days=warn_days):
        report.add("certificates", status.status, status.message)


def _check_connection(report: DoctorReport, settings: Settings, insecure_dev: bool) -> None:
    from .node.client import NodeError
    from .secrets import SecretError
    from .service.wiring import build_node_client

    try:
        client = build_node_client(settings, insecure_dev=insecure_dev)
    except (NodeError, SecretError) as exc:
        report.add("connection", "fail", str(exc))
        return
    try:
        with client:
            waiting = client.list_messages(limit=100)
    except NodeError as exc:
        report.add("connection", "fail", str(exc))
        return
    count = f"{len(waiting)}{' or more' if len(waiting) >= 100 else ''}"
    report.add(
        "connection", "ok", f"the node at {settings.node.url} answered; {count} message(s) waiting"
    )


def _check_store(report: DoctorReport, settings: Settings) -> None:
    """The store as it is, opened without creating or migrating it: its schema revision
    against the code's, SQLite's quick check of the file, and the audit trail."""
    from .store.db import connect_store, sqlite_path
    from .store.errors import StoreError
    from .store.identity import missing_store

    path = sqlite_path(settings.store.url)
    if path is not None and not path.exists():
        refusal = missing_store(path)
        if refusal is not None:
            report.add("store", "fail", str(refusal))
        else:
            report.add(
                "store", "ok", f"the store {path} does not exist yet; the first start creates it"
            )
        return
    try:
        store = connect_store(settings.store.url, sqlite_cache_mib=settings.store.sqlite_cache_mib)
    except StoreError as exc:
        report.add("store", "fail", str(exc))
        return
    try:
        if _check_store_schema(report, store, path):
            audit = verify_audit(store)
            report.add("store", "ok" if audit.ok else "fail", audit.summary())
    except StoreError as exc:  # the store failed while it was checked
        report.add("store", "fail", str(exc))
    finally:
        store.close()


def _check_store_schema(report: DoctorReport, store: Store, database: Path | None) -> bool:
    """The schema revision and, for a SQLite ``database``, that it is the store that worked
    here and the file's integrity; True when the audit trail can be checked next."""
    from .store.db import integrity_problems, newer_release, schema_revision
    from .store.errors import damaged, store_name
    from .store.identity import other_store, read_store_id, recorded_id

    name = store_name(store.engine.url)
    with store.engine.connect() as connection:
        revision = schema_revision(connection)
        store_id = read_store_id(connection)
    if database is not None:
        refusal = other_store(database, store_id, recorded_id(database))
        if refusal is not None:
            report.add("store", "fail", str(refusal))
            return False
    if not revision.known:
        report.add("store", "fail", str(newer_release(store.engine.url, revision)))
        return False
    if revision.current is None:
        report.add("store", "ok", f"{name} is empty; the first start creates its tables")
        return False
    if store.engine.dialect.name == "sqlite":
        problems = integrity_problems(store)
        if problems:
            report.add(
                "store",
                "fail",
                f"{damaged(store.engine.url)}; SQLite's quick_check found "
                f"{len(problems)}{'+' if len(problems) >= 10 else ''} problem(s)",
            )
            return False
        report.add("store", "ok", f"{name} passes SQLite's quick_check")
    if revision.behind:
        report.add(
            "store",
            "warn",
            f"{name} is at schema revision {revision.current}, this release's newest is "
            f"{revision.head}: the next start migrates it (back it up first)",
        )
        return False
    report.add(
        "store", "ok", f"{name} opens; its schema is at the newest revision, {revision.head}"
    )
    return True


def _check_adapters(report: DoctorReport, settings: Settings) -> None:
    from .adapters.registry import AdapterLoadError
    from .secrets import SecretError
    from .service.wiring import build_adapters

    try:
        adapters = build_adapters(settings)
    except (AdapterLoadError, SecretError) as exc:
        report.add("adapters", "fail", str(exc))
        return
    try:
        for loaded in adapters:
            area = f"adapter {loaded.name}"
            try:
                results = loaded.adapter.check()
            except Exception as exc:  # an adapter's bug must not end the doctor
                report.add(area, "fail", f"check() failed: {type(exc).__name__}: {exc}"[:500])
                continue
            if not results:
                report.add(area, "ok", "loaded; it reports no checks")
            for result in results:
                report.add(
                    area, "ok" if result.ok else "fail", f"{result.aspect}: {result.message}"
                )
    finally:
        for loaded in adapters:
            loaded.adapter.close()


def run_doctor(
    config: Path,
    *,
    insecure_dev: bool = False,
    now: datetime | None = None,
    warn_days: int = WARN_DAYS,
) -> DoctorReport:
    """Check the settings, credentials, certificates, the connection to the node, the store
    and every adapter. Never raises for what it checks: each problem is a failed check."""
    from .config import ConfigError, load_settings

    report = DoctorReport()
    now = now or datetime.now(UTC)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        report.add("settings", "fail", str(exc))
        return report
    report.add(
        "settings",
        "ok",
        f"{settings.source} loads; participant {settings.node.participant_id}; "
        f"{len(settings.adapters)} adapter(s)",
    )
    for deprecated in settings.deprecations():
        report.add("settings", "warn", deprecated)
    _check_what_run_builds(report, settings, insecure_dev)
    _check_credentials(report, settings)
    _check_permissions(report, settings)
    _check_certificates(report, settings, now, warn_days)
    _check_connection(report, settings, insecure_dev)
    _check_store(report, settings)
    _check_adapters(report, settings)
    return report


# -- files others may read or change -----------------------------------------------------

#: Readable by group or others; writable by them.
_READABLE_BY_OTHERS: Final = stat.S_IRGRP | stat.S_IROTH
_WRITABLE_BY_OTHERS: Final = stat.S_IWGRP | stat.S_IWOTH


def exposed_files(settings: Settings) -> list[str]:
    """One sentence for each file that others may read or change though they should not,
    naming it and the fix (``chmod 600 PATH``): the private key, the file of a
    ``secret:NAME`` and the SQLite store with its -wal and -shm files readable by group or
    others, as ssh refuses an open private key; the configuration writable by them (it
    names the adapters that are loaded and the node that is trusted), or readable while
    ``store.url`` holds a password. Files that cannot be looked at are left out: the other
    checks name them. ``doctor`` warns with these; ``run`` logs them at start."""
    found: list[str] = []
    tls = settings.node.tls
    if tls is not None:
        found += _open_to_read(tls.private_key, "the private key node.tls.private_key")
    if settings.receive is not None:
        key = settings.receive.tls.private_key
        found += _open_to_read(key, "the private key receive.tls.private_key")
    for reference in _settings_secret_refs(settings):
        file = secret_file(reference)
        if file is not None:
            found += _open_to_read(file, f"the file of {reference}")
    database = sqlite_path(settings.store.url)
    if database is not None:
        for suffix in ("", "-wal", "-shm"):
            found += _open_to_read(Path(f"{database}{suffix}"), "the store")
    if settings.source is not None:
        found += _exposed_configuration(settings.source, settings.store.url)
    return found


def _settings_secret_refs(settings: Settings) -> list[str]:
    references = [r for adapter in settings.adapters for r in _secret_refs(adapter.options)]
    if settings.receive is not None and settings.receive.tls.private_key_password:
        references.insert(0, settings.receive.tls.private_key_password)
    tls = settings.node.tls
    if tls is not None and tls.private_key_password:
        references.insert(0, tls.private_key_password)
    return list(dict.fromkeys(references))  # each once, in the order of the file


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _open_to_read(path: Path, what: str) -> list[str]:
    mode = _mode(path)
    if mode is None or not mode & _READABLE_BY_OTHERS:
        return []
    return [f"{what} {path} is readable by group or others (mode {mode:04o}): chmod 600 {path}"]


def _exposed_configuration(path: Path, store_url: str) -> list[str]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    mode = _mode(path)
    if mode is None:
        return []
    if mode & _WRITABLE_BY_OTHERS:
        return [
            f"the configuration {path} can be changed by group or others (mode {mode:04o}): "
            f"chmod 600 {path}"
        ]
    try:
        has_password = make_url(store_url).password is not None
    except ArgumentError:
        has_password = False
    if has_password and mode & _READABLE_BY_OTHERS:
        return [
            f"the configuration {path} holds the password of store.url and is readable by "
            f"group or others (mode {mode:04o}): chmod 600 {path}"
        ]
    return []


# -- the keyring ----------------------------------------------------------------------------


class KeyringUnavailable(Exception):
    """No usable system keyring here; the message says what to use instead."""


class KeyringFailed(Exception):
    """The keyring is there but did not store the secret."""


def _instead(name: str) -> str:
    return (
        f"set the environment variable {env_var_name(name)} or put a file {name!r} in "
        "$CREDENTIALS_DIRECTORY (systemd LoadCredential=) or $SKN_SECRETS_DIR instead"
    )


def store_secret_in_keyring(name: str, value: str) -> str:
    """Store ``value`` as the secret ``name`` (checked as ``secret:NAME``) in the system keyring
    and read it back; returns the backend's name. KeyringUnavailable when there is no usable
    keyring (the package missing, a headless server), KeyringFailed when storing fails."""
    secret_name(SECRET_PREFIX + name)
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
        from keyring.backends import fail  # type: ignore[import-not-found,unused-ignore]
        from keyring.errors import (  # type: ignore[import-not-found,unused-ignore]
            KeyringError,
            NoKeyringError,
        )
    except ImportError:
        raise KeyringUnavailable(
            "the keyring package is not installed (pip install 'skn-connector[keyring]'); "
            + _instead(name)
        ) from None
    backend = keyring.get_keyring()
    backend_name = str(getattr(backend, "name", type(backend).__name__))
    if isinstance(backend, fail.Keyring):
        raise KeyringUnavailable(f"no system keyring backend is available here; {_instead(name)}")

    def _safe(exc: BaseException) -> str:
        return str(exc).replace(value, "***") if value else str(exc)

    try:
        keyring.set_password(KEYRING_SERVICE, name, value)
        stored = keyring.get_password(KEYRING_SERVICE, name)
    except NoKeyringError:
        raise KeyringUnavailable(
            f"no system keyring backend is available here; {_instead(name)}"
        ) from None
    except (KeyringError, RuntimeError, OSError) as exc:
        raise KeyringFailed(
            f"the system keyring ({backend_name}) did not store secret {name!r} "
            f"({type(exc).__name__}: {_safe(exc)[:200]}); {_instead(name)}"
        ) from None
    if stored != value:
        raise KeyringFailed(
            f"the system keyring ({backend_name}) did not give secret {name!r} back as stored; "
            + _instead(name)
        )
    return backend_name


def shadowing_source(name: str) -> str | None:
    """Where a value for ``name`` is found before the keyring, if anywhere (it wins)."""
    env = env_var_name(name)
    if env in os.environ:
        return f"the environment variable {env}"
    for variable in ("CREDENTIALS_DIRECTORY", "SKN_SECRETS_DIR"):
        directory = os.environ.get(variable)
        if directory and (Path(directory) / name).is_file():
            return f"the file {name!r} in ${variable}"
    return None


# -- the audit trail ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditHead:
    """The last entry of the trail: its id and hash (write it down elsewhere to anchor it)."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"

    @classmethod
    def parse(cls, value: str) -> AuditHead:
        match = re.fullmatch(r"\s*(\d+)[:\s]([0-9a-fA-F]{64})\s*", value)
        if not match:
            raise ValueError("an audit head is ID:HASH, e.g. 1234:3f2a…, as 'audit verify' prints")
        return cls(int(match.group(1)), match.group(2).lower())


@dataclass(frozen=True)
class AuditReport:
    """The verdict on the audit trail: ``first_bad_id`` and ``problem`` name the first entry
    that does not verify, if any."""

    count: int
    head: AuditHead | None
    first_bad_id: int | None = None
    problem: str | None = None
    #: the recorded head (meta ``audit_head``) was there and compared with the last entry
    head_recorded: bool = False
    #: ranges of missing ids whose neighbours still link (normal on PostgreSQL: rolled-back
    #: transactions use up sequence values)
    gaps: tuple[tuple[int, int], ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"the audit trail does not verify: {self.problem}"
        if self.head is None:
            return "the audit trail is empty"
        anchored = "" if self.head_recorded else " (no recorded head to compare the end with)"
        return (
            f"the audit trail verifies: {self.count} entries, head {self.head.id}:{self.head.hash}"
            f"{anchored}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "head": str(self.head) if self.head else None,
            "first_bad_id": self.first_bad_id,
            "problem": self.problem,
            "head_recorded": self.head_recorded,
            "gaps": [list(g) for g in self.gaps],
        }


def _broken_link(session: Any, entry: AuditEntry, previous: AuditEntry | None) -> str:
    """Why ``entry`` does not follow ``previous``: a removal or a reordering."""
    if previous is None:
        return (
            f"entry {entry.id} is the first entry but does not start the chain: "
            "the entries before it were removed"
        )
    linked = session.scalars(
        select(AuditEntry.id).where(AuditEntry.hash == entry.prev_hash).limit(1)
    ).first()
    if linked is not None and linked > entry.id:
        return (
            f"entry {entry.id} follows entry {linked}, which comes after it: "
            "the entries were reordered"
        )
    if linked is not None and linked < previous.id:
        return (
            f"entry {entry.id} follows entry {linked}, not entry {previous.id}: "
            f"the entries after {linked} were reordered or inserted"
        )
    if entry.id - previous.id > 1:
        missing = (
            str(previous.id + 1)
            if entry.id - previous.id == 2
            else f"{previous.id + 1}-{entry.id - 1}"
        )
        return f"entry {entry.id} does not follow entry {previous.id}: entry {missing} was removed"
    return (
        f"entry {entry.id} does not follow entry {previous.id}: an entry between them was "
        f"removed, or entry {previous.id} was changed and its hash recomputed"
    )


def _recorded_head(session: Any) -> tuple[int | None, str] | None:
    """The head ``Store.audit`` keeps in meta: ``"<id> <hash>"`` or just ``"<hash>"``."""
    row = session.get(Meta, AUDIT_HEAD_KEY)
    if row is None:
        return None
    parts = row.value.split()
    if len(parts) == 2 and parts[0].isdigit():
        return int(parts[0]), parts[1].lower()
    return None, (parts[-1].lower() if parts else "")


def _check_recorded_head(
    session: Any, count: int, head: AuditHead | None, recorded: tuple[int | None, str]
) -> AuditReport | None:
    recorded_id, recorded_hash = recorded
    last = head.id if head is not None else 0
    if head is not None and head.hash == recorded_hash:
        return None
    if recorded_id is not None and recorded_id > last:
        return AuditReport(
            count,
            head,
            recorded_id,
            f"the trail ends at entry {last} but its recorded head is entry {recorded_id}: "
            "the last entries were removed",
            head_recorded=True,
        )
    found = session.scalars(
        select(AuditEntry.id).where(AuditEntry.hash == recorded_hash).limit(1)
    ).first()
    if found is None:
        return AuditReport(
            count,
            head,
            last + 1,
            f"the recorded head ({recorded_hash[:12]}…) is not in the trail, which ends at "
            f"entry {last}: the last entries were removed",
            head_recorded=True,
        )
    return AuditReport(
        count,
        head,
        found + 1,
        f"the entries after entry {found}, the recorded head, were added without moving it "
        "(written outside the connector)",
        head_recorded=True,
    )


def verify_audit(store: Store, *, expected_head: AuditHead | None = None) -> AuditReport:
    """Recompute the hash chain in id order and report the first entry that does not verify.

    Detects a changed entry (its hash does not match its content), a removed one (a broken
    ``prev_hash`` link; a gap in the ids on SQLite) and a reordered one. The end of the trail
    is checked against the head ``Store.audit`` records in ``meta`` (when present) and
    against ``expected_head`` (a head written down elsewhere): without either, removing the
    last entries cannot be told from a shorter trail.
    """
    dense_ids = store.engine.dialect.name == "sqlite"
    with store.transaction() as session:
        count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        previous: AuditEntry | None = None
        gaps: list[tuple[int, int]] = []
        anchor_seen = expected_head is None
        query = select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
        for entry in session.scalars(query):
            recomputed = audit_hash(
                entry.prev_hash,
                entry.at,
                entry.event,
                entry.conversation_id,
                entry.referentienummer,
                entry.detail,
            )
            if recomputed != entry.hash:
                return AuditReport(
                    count,
                    None,
                    entry.id,
                    f"entry {entry.id} was changed after it was written "
                    "(its hash does not match its content)",
                )
            expected_prev = previous.hash if previous is not None else GENESIS_HASH
            if entry.prev_hash != expected_prev:
                return AuditReport(count, None, entry.id, _broken_link(session, entry, previous))
            if previous is not None and entry.id - previous.id > 1:
                if dense_ids:
                    return AuditReport(
                        count,
                        None,
                        entry.id,
                        f"the ids jump from {previous.id} to {entry.id} while the chain links: "
                        "entries were removed and the chain rewritten",
                    )
                gaps.append((previous.id + 1, entry.id - 1))
            if expected_head is not None and entry.id == expected_head.id:
                if entry.hash != expected_head.hash:
                    return AuditReport(
                        count,
                        None,
                        entry.id,
                        f"entry {entry.id} is not the entry written down as head {expected_head}",
                    )
                anchor_seen = True
            previous = entry
        head = AuditHead(previous.id, previous.hash) if previous is not None else None
        if not anchor_seen:
            assert expected_head is not None
            last = head.id if head else 0
            return AuditReport(
                count,
                head,
                expected_head.id,
                f"entry {expected_head.id}, written down as the head, is missing: the trail "
                f"ends at entry {last}, so its last entries were removed",
            )
        recorded = _recorded_head(session)
        if recorded is not None:
            problem = _check_recorded_head(session, count, head, recorded)
            if problem is not None:
                return problem
        return AuditReport(count, head, head_recorded=recorded is not None, gaps=tuple(gaps))


# -- retention ------------------------------------------------------------------------------


def retention_period(months: int) -> timedelta:
    """``months`` as a period, rounded up to whole days (12 months: 366 days)."""
    return timedelta(days=math.ceil(months * 365.25 / 12))


def is_purged(raw: bytes) -> bool:
    """Whether stored message bytes are a purge marker instead of the message."""
    return raw.startswith(PURGED_PREFIX)


def purged_marker(original: bytes, purged_at: datetime) -> bytes:
    """The bytes a purged message is replaced with: its digest and when, nothing else."""
    digest = hashlib.sha256(original).hexdigest()
    return (
        PURGED_PREFIX
        + f"sha256={digest}\npurged_at={purged_at.astimezone(UTC).isoformat()}\n".encode()
    )


@dataclass
class PurgeReport:
    """What ``purge_personal_data`` purged (or would purge, on a dry run)."""

    cutoff: datetime
    dry_run: bool
    conversations: int = 0
    inbox_messages: int = 0
    outbox_messages: int = 0
    quarantined_messages: int = 0
    #: messages of a purged conversation still pending (left as they are)
    skipped_pending: int = 0
    #: conversations left alone because a task on them is still open
    skipped_open_tasks: int = 0
    #: quarantined messages left alone because their task is still open
    skipped_open_quarantine: int = 0

    @property
    def messages(self) -> int:
        return self.inbox_messages + self.outbox_messages + self.quarantined_messages

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        text = (
            f"{verb} the personal data of {self.conversations} ended conversation(s) and "
            f"quarantined messages from before {self.cutoff.date().isoformat()}: "
            f"{self.inbox_messages} received, {self.outbox_messages} sent and "
            f"{self.quarantined_messages} quarantined message(s)"
        )
        skipped = []
        if self.skipped_pending:
            skipped.append(f"{self.skipped_pending} message(s) still pending")
        if self.skipped_open_tasks:
            skipped.append(f"{self.skipped_open_tasks} conversation(s) with an open task")
        if self.skipped_open_quarantine:
            skipped.append(
                f"{self.skipped_open_quarantine} quarantined message(s) with an open task"
            )
        return text + (f"; left alone: {', '.join(skipped)}" if skipped else "")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat()
        return data


def purge_personal_data(
    store: Store,
    older_than: timedelta = retention_period(DEFAULT_RETENTION_MONTHS),
    now: datetime | None = None,
    *,
    dry_run: bool = False,
) -> PurgeReport:
    """Replace the bytes of old messages by a marker keeping only references.

    Purged: the received and sent messages of conversations in a final state whose last
    update lies before ``now - older_than``, and quarantined messages received before then.
    Kept: Referentienummer, Berichttype, sha256 (in the row, and in the marker for a sent message),
    the conversation id, states, tasks and the audit trail, which gets one
    ``personal_data_purged`` entry per conversation (references only) and still verifies.
    Messages still pending, conversations with an open task and quarantined messages whose
    task is open are left alone: a person still has to look at them. On SQLite
    the freed bytes are overwritten (secure_delete) and the write-ahead log truncated.
    """
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run)
    sqlite = store.engine.dialect.name == "sqlite"
    with store.transaction() as session:
        if sqlite and not dry_run:
            session.execute(text("PRAGMA secure_delete = ON"))
        ended = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.state.in_(FINAL_STATES))
                .where(Conversation.updated_at < cutoff)
                .order_by(Conversation.updated_at)
            )
        )
        for conversation in ended:
            open_tasks = session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.conversation_id == conversation.id, Task.status == "open")
            )
            if open_tasks:
                report.skipped_open_tasks += 1
                continue
            inbox = list(
                session.scalars(
                    select(InboxMessage).where(InboxMessage.conversation_id == conversation.id)
                )
            )
            outbox = list(
                session.scalars(
                    select(OutboxMessage).where(OutboxMessage.conversation_id == conversation.id)
                )
            )
            purged_in: list[str] = []
            purged_out: list[dict[str, str]] = []
            for message in inbox:
                if message.status == "pending":
                    report.skipped_pending += 1
                elif not is_purged(message.raw):
                    purged_in.append(message.referentienummer)
                    if not dry_run:
                        message.raw = purged_marker(message.raw, now)
            for answer in outbox:
                if answer.status == "pending":
                    report.skipped_pending += 1
                elif not is_purged(answer.payload):
                    purged_out.append(
                        {
                            "referentienummer": answer.referentienummer,
                            "sha256": hashlib.sha256(answer.payload).hexdigest(),
                        }
                    )
                    if not dry_run:
                        answer.payload = purged_marker(answer.payload, now)
            if not purged_in and not purged_out:
                continue
            report.conversations += 1
            report.inbox_messages += len(purged_in)
            report.outbox_messages += len(purged_out)
            if not dry_run:
                store.audit(
                    session,
                    "personal_data_purged",
                    conversation_id=conversation.id,
                    state=conversation.state,
                    last_update=conversation.updated_at.isoformat(),
                    received=purged_in,
                    sent=purged_out,
                )
        quarantined = list(
            session.scalars(
                select(QuarantinedMessage)
                .where(QuarantinedMessage.received_at < cutoff)
                .order_by(QuarantinedMessage.id)
            )
        )
        # a person still has to look at these: kept, as a conversation with an open task is
        still_open = set(
            session.scalars(
                select(Task.quarantine_id).where(
                    Task.quarantine_id.is_not(None), Task.status == "open"
                )
            )
        )
        for row in quarantined:
            if is_purged(row.raw):
                continue
            if row.id in still_open:
                report.skipped_open_quarantine += 1
                continue
            report.quarantined_messages += 1
            if not dry_run:
                row.raw = purged_marker(row.raw, now)
                store.audit(
                    session,
                    "personal_data_purged",
                    referentienummer=row.referentienummer,
                    quarantine_id=row.id,
                    sha256=row.sha256,
                )
    if sqlite and not dry_run and report.messages:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return report


__all__ = [
    "AUDIT_HEAD_KEY",
    "DEFAULT_RETENTION_MONTHS",
    "FINAL_STATES",
    "PURGED_PREFIX",
    "WARN_DAYS",
    "AuditHead",
    "AuditReport",
    "CertificateStatus",
    "Check",
    "DoctorReport",
    "KeyringFailed",
    "KeyringUnavailable",
    "PurgeReport",
    "certificate_days_left",
    "certificate_expiry_days",
    "certificate_status",
    "certificate_statuses",
    "exposed_files",
    "is_purged",
    "purge_personal_data",
    "purged_marker",
    "refuse_invalid_client_certificate",
    "retention_period",
    "run_doctor",
    "shadowing_source",
    "store_secret_in_keyring",
    "verify_audit",
]
