"""``doctor``: the settings, credentials, certificates, the connection to the node, the store
and every adapter, each a check with one sentence. It never raises for what it checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509

from ..node.certificates import (
    WARN_DAYS,
    CheckStatus,
    _certificates_in,
    certificate_statuses,
)
from ..node.client import NodeTLSError
from ..secrets import secret_refs
from ..service.exposure import exposed_files
from ..store.audit import verify_audit

if TYPE_CHECKING:
    from ..config import Settings
    from ..store.db import Store


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


def _check_what_run_builds(report: DoctorReport, settings: Settings, insecure_dev: bool) -> None:
    """The parts run builds, built as config check builds them: what passes, run takes."""
    from ..adapters.registry import AdapterLoadError
    from ..config import ConfigError
    from ..node.client import NodeSetupError
    from ..secrets import SecretError
    from ..service.wiring import check_settings
    from ..store.db import StoreError

    try:
        check_settings(settings, insecure_dev=insecure_dev)
    except (ConfigError, SecretError, AdapterLoadError, StoreError, NodeSetupError) as exc:
        report.add("settings", "fail", f"run would refuse this configuration: {exc}")
    else:
        report.add("settings", "ok", "run takes this configuration (as config check does)")


def _check_credentials(report: DoctorReport, settings: Settings) -> None:
    from ..node.client import _load_key, _public_der, build_ssl_context
    from ..secrets import SecretError, resolve_secret

    for adapter in settings.adapters:
        for reference in secret_refs(adapter.options):
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
    from ..node.client import NodeError
    from ..secrets import SecretError
    from ..service.wiring import build_node_client

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


def _check_store(report: DoctorReport, settings: Settings) -> bool:
    """The store as it is, opened without creating or migrating it: its schema revision
    against the code's, SQLite's quick check of the file, and the audit trail. True when
    its work can be looked at next (its schema is this release's)."""
    from ..store.db import connect_store, sqlite_path
    from ..store.errors import StoreError
    from ..store.identity import missing_store

    path = sqlite_path(settings.store.url)
    if path is not None and not path.exists():
        refusal = missing_store(path)
        if refusal is not None:
            report.add("store", "fail", str(refusal))
        else:
            report.add(
                "store", "ok", f"the store {path} does not exist yet; the first start creates it"
            )
        return False
    try:
        store = connect_store(settings.store.url, sqlite_cache_mib=settings.store.sqlite_cache_mib)
    except StoreError as exc:
        report.add("store", "fail", str(exc))
        return False
    try:
        if _check_store_schema(report, store, path):
            audit = verify_audit(store)
            report.add("store", "ok" if audit.ok else "fail", audit.summary())
            return True
    except StoreError as exc:  # the store failed while it was checked
        report.add("store", "fail", str(exc))
    finally:
        store.close()
    return False


def _check_work(report: DoctorReport, settings: Settings, now: datetime) -> None:
    """The state of the work, as the metrics show it: what needs a person fails."""
    from ..store.db import connect_store
    from ..store.errors import StoreError
    from .attention import findings
    from .status import status

    store = connect_store(settings.store.url, sqlite_cache_mib=settings.store.sqlite_cache_mib)
    try:
        figures = status(store, settings, now)
    except StoreError as exc:
        report.add("work", "fail", str(exc))
        return
    finally:
        store.close()
    for finding in findings(figures):
        report.add("work", _CHECK_STATUS[finding.verdict.value], finding.sentence)


_CHECK_STATUS: Final[dict[str, CheckStatus]] = {"ok": "ok", "warn": "warn", "fail": "fail"}


def _check_store_schema(report: DoctorReport, store: Store, database: Path | None) -> bool:
    """The schema revision and, for a SQLite ``database``, that it is the store that worked
    here and the file's integrity; True when the audit trail can be checked next."""
    from ..store.db import integrity_problems, newer_release, schema_revision
    from ..store.errors import damaged, store_name
    from ..store.identity import other_store, read_store_id, recorded_id
    from ..store.totals import missing_triggers

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
    with store.engine.connect() as connection:
        missing = missing_triggers(connection)
    if missing:
        report.add(
            "store",
            "fail",
            f"{name} lacks the triggers that keep its totals ({', '.join(missing)}), so the "
            "metrics' totals no longer grow: restore a backup made with pg_dump or SQLite's "
            "backup, which keep them",
        )
        return False
    report.add(
        "store", "ok", f"{name} opens; its schema is at the newest revision, {revision.head}"
    )
    return True


def _check_adapters(report: DoctorReport, settings: Settings) -> None:
    from ..adapters.registry import AdapterLoadError
    from ..secrets import SecretError
    from ..service.wiring import build_adapters

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
    """Check the settings, credentials, certificates, the connection to the node, the store,
    the state of the work in it (operations.attention) and every adapter. Never raises for
    what it checks: each problem is a failed check."""
    from ..config import ConfigError, load_deployment

    report = DoctorReport()
    now = now or datetime.now(UTC)
    try:
        deployment = load_deployment(config)
    except ConfigError as exc:
        report.add("settings", "fail", str(exc))
        return report
    for settings in deployment.creditors:
        # with several creditors, each line of a creditor's own checks names it (by id)
        part = _CreditorReport(report, settings.creditor_id if deployment.several else None)
        part.add(
            "settings",
            "ok",
            f"{settings.source} loads; participant {settings.node.participant_id}; "
            f"{len(settings.adapters)} adapter(s)",
        )
        for deprecated in settings.deprecations():
            part.add("settings", "warn", deprecated)
        _check_what_run_builds(part, settings, insecure_dev)
        _check_credentials(part, settings)
        _check_permissions(part, settings)
        _check_certificates(part, settings, now, warn_days)
        _check_connection(part, settings, insecure_dev)
        _check_adapters(part, settings)
    shared = deployment.shared
    if _check_store(report, shared):
        _check_work(report, shared, now)
    return report


class _CreditorReport(DoctorReport):
    """The checks of one creditor of several, added to the whole report with its id."""

    def __init__(self, whole: DoctorReport, creditor_id: str | None) -> None:
        super().__init__(whole.checks)
        self._prefix = f"creditor {creditor_id}: " if creditor_id else ""

    def add(self, area: str, status: CheckStatus, message: str) -> None:
        super().add(f"{self._prefix}{area}", status, message)
