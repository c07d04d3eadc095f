"""The validity of our certificates: for doctor, the metrics, and the refusal to start with
an expired client certificate. Every problem is one sentence, without secret values."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from cryptography import x509

from .client import NodeSetupError

if TYPE_CHECKING:
    from ..config import Settings

#: Warn this many days before a certificate expires.
WARN_DAYS: Final = 30

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
