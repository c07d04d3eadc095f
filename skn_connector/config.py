"""The configuration (TOML): typed, validated at start, errors name the key and the problem."""

from __future__ import annotations

import re
import tomllib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .secrets import SecretError, is_secret_ref, secret_name

DEFAULT_CONFIG = Path("skn-connector.toml")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """A configuration problem, as one sentence naming the key."""


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    raise ValueError("a duration is a number with a unit, e.g. '30s', '5m', '1h' or '1d'")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_reference(value: str | None) -> str | None:
    """A password setting: a secret reference (secret:NAME), never the password itself."""
    if value is not None and not is_secret_ref(value):
        raise ValueError("must be a secret reference (secret:NAME), never the password itself")
    if value is not None:
        try:
            secret_name(value)
        except SecretError as exc:
            raise ValueError(str(exc)) from None
    return value


class TlsSettings(_Section):
    certificate: Path
    private_key: Path
    private_key_password: str | None = None
    trust: Path

    @field_validator("private_key_password")
    @classmethod
    def _secret_only(cls, value: str | None) -> str | None:
        return _secret_reference(value)


class NodeMode(StrEnum):
    """How messages come from the node: fetched from the messagebox, delivered to our receive
    endpoint (a gateway pushes them), or both."""

    POLL = "poll"
    RECEIVE = "receive"
    BOTH = "both"

    @property
    def polls(self) -> bool:
        return self is not NodeMode.RECEIVE

    @property
    def receives(self) -> bool:
        return self is not NodeMode.POLL


class NodeSettings(_Section):
    url: str
    participant_id: uuid.UUID
    poll_interval: Duration = timedelta(minutes=5)
    deliver_interval: Duration = timedelta(seconds=30)
    connect_timeout: Duration = timedelta(seconds=5)
    read_timeout: Duration = timedelta(seconds=30)
    batch_size: int = Field(default=250, ge=1, le=1000)
    #: how many creditors' work a job does at once (a deployment of several creditors): one
    #: creditor's slow back-office or node call then holds up only its own work
    parallel_creditors: int = Field(default=8, ge=1, le=64)
    mode: NodeMode = NodeMode.POLL
    tls: TlsSettings | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an https:// URL of the node's SOAP service")
        return value

    @model_validator(mode="after")
    def _https_needs_tls(self) -> NodeSettings:
        if self.url.startswith("https://") and self.tls is None:
            raise ValueError(
                "an https node URL needs [node.tls] with certificate, private_key, trust"
            )
        return self


_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8443`` for an IPv6 address) as (host, port)."""
    match = _LISTEN.fullmatch(value.strip())
    if match is None or not 1 <= int(match.group("port")) <= 65535:
        raise ValueError(
            "must be HOST:PORT with a port from 1 to 65535, e.g. '0.0.0.0:8443' or '[::1]:8443'"
        )
    return match.group("v6") or match.group("host"), int(match.group("port"))


class ReceiveTlsSettings(_Section):
    """The receive endpoint's TLS: its server certificate and key, and the CA(s) whose client
    certificates it accepts (the node's)."""

    certificate: Path
    private_key: Path
    private_key_password: str | None = None
    client_trust: Path

    @field_validator("private_key_password")
    @classmethod
    def _secret_only(cls, value: str | None) -> str | None:
        return _secret_reference(value)


class ReceiveSettings(_Section):
    """The endpoint the node (or a gateway) delivers messages to (``node.mode`` receive or
    both)."""

    listen: str
    tls: ReceiveTlsSettings
    #: the largest request body read, a larger one is refused before it is read; unset: the
    #: largest SOAP envelope of the wire profile (wire.profile.MAX_ENVELOPE_BYTES), which is
    #: also the most it may be (checked where the endpoint is built: service.wiring)
    max_body_bytes: int | None = Field(default=None, ge=4096)
    #: how long a client may take to send its whole request (headers and body)
    request_timeout: Duration = timedelta(seconds=15)
    #: deliveries waiting to be stored; past this many, new ones are answered 503
    max_waiting: int = Field(default=256, ge=1, le=10_000)
    #: open connections; past this many, new requests are answered 503
    max_connections: int = Field(default=128, ge=1, le=10_000)
    #: while deliveries keep coming, deciding them waits for a pause, at most this long after
    #: the oldest delivery not yet decided (service/prompt.py); 0: decide a tenth of a second
    #: after a delivery (or a whole batch) whether the deliveries pause or not
    decide_delay_max: Duration = timedelta(seconds=3)

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("request_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("must lie between 1 second and 10 minutes")
        return value

    @field_validator("decide_delay_max")
    @classmethod
    def _a_minute_at_most(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(minutes=1):
            raise ValueError("must lie between 0 seconds and 1 minute")
        return value

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


#: SQLite's page cache per connection, in MiB (``[store] sqlite_cache_mib``; SQLite's own
#: default is 2 MiB). The indexes on Referentienummers and conversation ids take random values; past
#: a few thousand messages they outgrow 2 MiB and each row's insert reads its index page back
#: from the file (9 to 16 us a row at 30,000 messages; with 64 MiB it stays at 9, and a run
#: of 100,000 keeps its pace to the end). It is memory: 48 MiB keeps the connector well
#: under 200 MB at any backlog; the cache fills only as far as the store is large.
SQLITE_CACHE_MIB = 48


class StoreSettings(_Section):
    url: str = "sqlite:///skn-connector.db"
    sqlite_cache_mib: int = Field(default=SQLITE_CACHE_MIB, ge=2, le=4096)


class ContactSettings(_Section):
    naam: str = Field(min_length=1)
    telefoon: str | None = None
    email: str | None = None


class CreditorSettings(_Section):
    name: str = Field(min_length=1)
    kind: Literal["gemeentebelastingen", "werk_en_inkomen", "cjib", "overig"]
    covenant: Literal["lokale_overheid", "rijk", "model_2024", "geen"] = "geen"
    vooraf_akkoord: bool = False
    #: no longer used: wire profile 1 wrote it as the Referentienummer of every answer,
    #: which is each message's own UUID (accepted for one release, with a warning)
    referentie: str | None = Field(default=None, max_length=200)
    contact: ContactSettings


class AdapterSettings(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    use: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


GroupEffect = Literal["stop", "lift", "allow"]
MeasureGroup = Literal["ESC", "NEWSEIZE", "RUNSEIZE", "SETOFF", "INT", "LIBERTY"]


class PolicySettings(_Section):
    """Overrides of the policy table (engine/rules/policy.toml); unset keys keep its defaults."""

    #: months of the covenant hold after a Kennisgeving (default: by covenant, 4-8)
    kennisgeving_hold_months: int | None = Field(default=None, ge=1, le=24)
    #: months of the covenant hold after the saldo-opgave (default: by covenant)
    saldo_hold_months: int | None = Field(default=None, ge=1, le=24)
    answer_within_working_days: int = Field(default=10, ge=1, le=30)
    #: raise a task when an answer is still open this many working days after receipt
    warn_at_working_days: int = Field(default=8, ge=1, le=30)
    #: raise a task when a back-office has refused or not answered for this long
    backoffice_outage_task_after: Duration = timedelta(hours=4)
    #: a creditor without a covenant pauses anyway (it is asked to, not obliged)
    pause_without_covenant: bool = False
    #: count Good Friday as a holiday: the Algemene termijnenwet equates it for statutory
    #: terms (art. 3 lid 2), the SKN's working days are none [SKN-CONNECTOR-CHOICE-WORKING-DAYS]
    good_friday: bool = False
    #: the longest repayment term accepted without a person (MSNP: 18 months since 2023)
    max_term_months: int = Field(default=18, ge=1, le=120)
    #: a preferent claim must get at least this multiple of the concurrent percentage
    preferent_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    #: answers that wait for a person's approval before they go out (a creditor's first
    #: weeks): Berichttypes, e.g. ["SaldoverzoekAntwoord"], or "all"
    approve_before_sending: list[str] | Literal["all"] = Field(default_factory=list)
    #: raise a task when an answer still waits for approval this many working days after
    #: its question came in: before the warning of warn_at_working_days
    approval_escalation_at_working_days: int = Field(default=7, ge=1, le=29)
    #: per event and measure group: stop, lift or allow ([policy.events.E03] RUNSEIZE = "stop")
    events: dict[str, dict[MeasureGroup, GroupEffect]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _escalation_before_the_deadline(self) -> PolicySettings:
        if self.approve_before_sending and (
            self.approval_escalation_at_working_days >= self.answer_within_working_days
        ):
            raise ValueError(
                "approval_escalation_at_working_days must be less than "
                f"answer_within_working_days ({self.answer_within_working_days})"
            )
        return self


class RetentionSettings(_Section):
    #: months after a conversation ended (or a message was quarantined) before
    #: `skn-connector retention purge` replaces its messages by references
    personal_data_months: int = Field(default=12, ge=1, le=120)


class HttpSettings(_Section):
    """The HTTP face: health and metrics (``[http]``); off unless ``listen`` is set."""

    #: HOST:PORT, e.g. "127.0.0.1:9464" or "[::1]:9464"; the host is never implied, so
    #: serving beyond this machine is always written out
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        return listen_address(self.listen) if self.listen is not None else None


def listen_address(value: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``[IPv6]:PORT``; ValueError saying what to write."""
    match = re.fullmatch(r"\s*(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})\s*", value)
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ValueError(
            'must be HOST:PORT with a port from 1 to 65535, e.g. "127.0.0.1:9464" or "[::1]:9464"'
        )
    return match.group(1) or match.group(2), int(match.group(3))


class ConsoleSettings(_Section):
    """The console (``[console]``): web pages for the functional administrators, served on
    the ``[http]`` face behind a login. Off unless ``enabled``; ``skn-connector console``
    serves it alone."""

    enabled: bool = False
    #: the key that signs the session cookies: secret:NAME; by default a random key kept in
    #: a file beside the store (0600), made on the first start
    session_key: str | None = None
    #: a session ends after this long without a request
    idle_timeout: Duration = timedelta(minutes=30)
    #: the console's language: nl (Dutch) or en (English)
    language: Literal["nl", "en"] = "nl"
    #: the addresses (or networks) of the reverse proxy in front: its X-Forwarded-For and
    #: X-Forwarded-Proto are believed from there only; and single sign-on: the header in which
    #: that proxy names the person it logged in (ADFS, Entra ID), off unless set
    trusted_proxies: list[str] = Field(default_factory=list)
    user_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")

    @field_validator("session_key")
    @classmethod
    def _key_is_a_secret(cls, value: str | None) -> str | None:
        if value is not None and not is_secret_ref(value):
            raise ValueError("must be a secret reference (secret:NAME), never the key itself")
        if value is not None:
            try:
                secret_name(value)
            except SecretError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _sso_from_a_proxy(self) -> ConsoleSettings:
        if self.user_header and not self.trusted_proxies:
            raise ValueError("user_header (single sign-on) needs trusted_proxies")
        return self


class LogFormat(StrEnum):
    TEXT = "text"
    #: one JSON object a line: time, level, logger, message (and exception)
    JSON = "json"


class LoggingSettings(_Section):
    format: LogFormat = LogFormat.TEXT


class CreditorEntry(_Section):
    """One creditor of a deployment that serves several (``[[creditors]]``): who it is in the
    SKN, its back-offices and its policy. Its TLS identity is its own ``tls`` or, unset, the
    one ``[node.tls]`` certificate shared by the deployment's participant ids (a provisional
    choice (P): docs/operations.md, "Several creditors")."""

    name: str = Field(min_length=1, max_length=200)
    participant_id: uuid.UUID
    kind: Literal["gemeentebelastingen", "werk_en_inkomen", "cjib", "overig"]
    covenant: Literal["lokale_overheid", "rijk", "model_2024", "geen"] = "geen"
    vooraf_akkoord: bool = False
    contact: ContactSettings
    #: overrides of the deployment's [policy] for this creditor alone
    policy: dict[str, Any] = Field(default_factory=dict)
    adapters: list[AdapterSettings] = Field(min_length=1)
    tls: TlsSettings | None = None

    @field_validator("adapters")
    @classmethod
    def _unique_names(cls, value: list[AdapterSettings]) -> list[AdapterSettings]:
        return _unique_adapter_names(value)


def _unique_adapter_names(value: list[AdapterSettings]) -> list[AdapterSettings]:
    names = [a.name for a in value]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"adapter names must be unique; repeated: {', '.join(duplicates)}")
    return value


class Settings(_Section):
    node: NodeSettings
    store: StoreSettings = StoreSettings()
    creditor: CreditorSettings
    adapters: list[AdapterSettings] = Field(min_length=1)
    policy: PolicySettings = PolicySettings()
    retention: RetentionSettings = RetentionSettings()
    http: HttpSettings = HttpSettings()
    console: ConsoleSettings = ConsoleSettings()
    logging: LoggingSettings = LoggingSettings()
    #: required when node.mode is receive or both (validated after node)
    receive: ReceiveSettings | None = Field(default=None, validate_default=True)
    #: where the file was read from; relative paths in it are relative to its folder
    source: Path | None = Field(default=None, exclude=True)
    #: the only creditor of its configuration (False: one of its [[creditors]] of several)
    sole: bool = Field(default=True, exclude=True)

    def deprecations(self) -> list[str]:
        """Settings that are accepted but no longer used, each as one sentence."""
        found = []
        if self.creditor.referentie is not None:
            found.append(
                "creditor.referentie is no longer used (every message we send gets its own "
                "Referentienummer, a UUID); remove it"
            )
        return found

    @field_validator("receive")
    @classmethod
    def _receive_when_receiving(
        cls, value: ReceiveSettings | None, info: ValidationInfo
    ) -> ReceiveSettings | None:
        node = info.data.get("node")
        if value is None and isinstance(node, NodeSettings) and node.mode.receives:
            raise ValueError(
                f'node.mode = "{node.mode}" needs a [receive] section with listen and '
                "[receive.tls] (certificate, private_key, client_trust)"
            )
        return value

    @field_validator("adapters")
    @classmethod
    def _unique_names(cls, value: list[AdapterSettings]) -> list[AdapterSettings]:
        return _unique_adapter_names(value)

    @property
    def creditor_id(self) -> str:
        """The creditor these settings are of: its participant id, the key of its rows in
        the store and the label of its metrics (never a name)."""
        return str(self.node.participant_id)


def _key_path(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            name = (
                node[part].get("name")
                if isinstance(node, list) and isinstance(node[part], dict)
                else None
            )
            parts[-1] = f"{parts[-1]}[{name or part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            parts.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    parts: list[tuple[Any, tuple[str, ...]]] = [
        (data.get("node"), ("certificate", "private_key", "trust")),
        (data.get("receive"), ("certificate", "private_key", "client_trust")),
    ]
    creditors = data.get("creditors")
    if isinstance(creditors, list):
        parts += [(entry, ("certificate", "private_key", "trust")) for entry in creditors]
    for part, keys in parts:
        tls = part.get("tls") if isinstance(part, dict) else None
        if isinstance(tls, dict):
            for key in keys:
                if isinstance(tls.get(key), str) and not Path(tls[key]).is_absolute():
                    tls[key] = str(base / tls[key])
    store = data.get("store")
    if isinstance(store, dict) and isinstance(store.get("url"), str):
        url: str = store["url"]
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            relative = url.removeprefix("sqlite:///")
            if relative and relative != ":memory:":
                store["url"] = "sqlite:///" + str(base / relative)


def _config_error(
    exc: ValidationError, data: dict[str, Any], source: str, prefix: tuple[int | str, ...] = ()
) -> ConfigError:
    first = exc.errors(include_input=False, include_url=False)[0]
    key = _key_path(prefix + tuple(first["loc"]), data) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "extra_forbidden":
        message = "is not a known setting (check the spelling against config.example.toml)"
    more = len(exc.errors()) - 1
    suffix = f" ({more} more problem{'s' if more > 1 else ''} after this one)" if more else ""
    return ConfigError(f"{source}: {key}: {message}{suffix}")


def settings_from_dict(data: dict[str, Any], *, source: str = "the configuration") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, data, source) from None


@dataclass(frozen=True)
class Deployment:
    """What one configuration serves: one creditor (``[creditor]``, ``[node]``,
    ``[[adapters]]``) or several (``[[creditors]]``), each as the settings of a
    single-creditor configuration with the deployment's shared sections (store, http,
    console, receive, retention, logging; node but for its participant id and TLS)."""

    creditors: tuple[Settings, ...]
    source: Path | None = None

    @property
    def shared(self) -> Settings:
        """The settings of the deployment as a whole (the sections all creditors share)."""
        return self.creditors[0]

    @property
    def several(self) -> bool:
        return len(self.creditors) > 1

    def choices(self) -> str:
        return ", ".join(f"{c.creditor.name} ({c.creditor_id})" for c in self.creditors)

    def select(self, choice: str | None) -> Settings:
        """The creditor named by ``choice`` (its name, case-insensitive, or its participant
        id); None: the only one. ConfigError naming the choices otherwise."""
        where = self.source or "the configuration"
        if choice is None:
            if not self.several:
                return self.creditors[0]
            raise ConfigError(
                f"{where} serves {len(self.creditors)} creditors; name one with --creditor: "
                f"{self.choices()}"
            )
        wanted = choice.strip().casefold()
        for settings in self.creditors:
            if wanted in (settings.creditor.name.casefold(), settings.creditor_id):
                return settings
        raise ConfigError(f"{where} has no creditor {choice!r}; choose one of: {self.choices()}")


def _merged_policy(shared: Any, override: dict[str, Any]) -> dict[str, Any]:
    base = dict(shared) if isinstance(shared, dict) else {}
    merged = {**base, **override}
    events = {**(base.get("events") or {}), **(override.get("events") or {})}
    if events:
        merged["events"] = events
    return merged


def _repeated(values: list[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})


def deployment_from_dict(data: dict[str, Any], *, source: str = "the configuration") -> Deployment:
    """The creditors a configuration serves, validated: the single-creditor form as one,
    ``[[creditors]]`` as many (errors name ``creditors[NAME].key``)."""
    if "creditors" not in data:
        return Deployment((settings_from_dict(data, source=source),))
    for section in ("creditor", "adapters"):
        if section in data:
            raise ConfigError(
                f"{source}: {section}: with [[creditors]] each creditor has its own {section} "
                "under its [[creditors]] entry; remove the top-level one"
            )
    node = data.get("node")
    if isinstance(node, dict) and "participant_id" in node:
        raise ConfigError(
            f"{source}: node.participant_id: with [[creditors]] each creditor names its own "
            "participant_id; remove it here"
        )
    raw = data["creditors"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"{source}: creditors: must list at least one [[creditors]] entry with name, "
            "participant_id, kind, contact and adapters"
        )
    try:
        entries = TypeAdapter(list[CreditorEntry]).validate_python(raw)
    except ValidationError as exc:
        raise _config_error(exc, data, source, ("creditors",)) from None
    for what, values in (
        ("participant ids", [str(e.participant_id) for e in entries]),
        ("names", [e.name.casefold() for e in entries]),
    ):
        if repeated := _repeated(values):
            raise ConfigError(
                f"{source}: creditors: {what} must be unique; repeated: {', '.join(repeated)}"
            )
    creditors = []
    for index, entry in enumerate(entries):
        policy = _merged_policy(data.get("policy"), entry.policy)
        try:
            PolicySettings.model_validate(policy)
        except ValidationError as exc:
            raise _config_error(exc, data, source, ("creditors", index, "policy")) from None
        single = {k: v for k, v in data.items() if k != "creditors"}
        single_node = dict(node) if isinstance(node, dict) else {}
        single_node["participant_id"] = str(entry.participant_id)
        if entry.tls is not None:
            single_node["tls"] = entry.tls.model_dump()
        single["node"] = single_node
        single["creditor"] = entry.model_dump(
            include={"name", "kind", "covenant", "vooraf_akkoord", "contact"}
        )
        single["adapters"] = [a.model_dump() for a in entry.adapters]
        single["policy"] = policy
        settings = settings_from_dict(single, source=f"{source}: creditors[{entry.name}]")
        creditors.append(settings.model_copy(update={"sole": len(entries) == 1}))
    return Deployment(tuple(creditors))


def load_deployment(path: Path | str) -> Deployment:
    """Read and validate a TOML configuration file: the creditors it serves."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such configuration file; pass --config FILE or copy config.example.toml"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _resolve_paths(data, path.resolve().parent)
    deployment = deployment_from_dict(data, source=str(path))
    resolved = path.resolve()
    return Deployment(
        tuple(c.model_copy(update={"source": resolved}) for c in deployment.creditors),
        source=resolved,
    )


def load_settings(path: Path | str, *, creditor: str | None = None) -> Settings:
    """Read and validate a TOML configuration file: the settings of its creditor (the one
    ``creditor`` names when it serves several; ConfigError naming the choices)."""
    return load_deployment(path).select(creditor)
