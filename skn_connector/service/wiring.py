"""Building the connector's parts from its settings, the same way for every command.

``run`` and ``config check`` build the parts with the same functions: what ``config check``
passes, ``run`` accepts. The parts that need only the settings are built first (the policy,
our own profile, the working days), then the adapters and the node client (its TLS context
from the certificate files), the store last: a configuration that is wrong is refused
before anything is created.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from ..adapters.registry import LoadedAdapter, load_adapters
from ..config import ConfigError, Settings
from ..engine.deadlines import WorkingDays
from ..engine.pipeline import Pipeline
from ..engine.policy import Policy, PolicyError, load_policy
from ..engine.records import CreditorProfile, NodePort
from ..messages import Contactpersoon
from ..node.certificates import refuse_invalid_client_certificate
from ..node.client import NodeClient, build_ssl_context
from ..secrets import is_secret_ref, resolve_secret
from ..store import Store, open_configured_store
from ..store.db import create_store_engine
from ..wire.profile import MAX_ENVELOPE_BYTES
from .exposure import exposed_files

log = logging.getLogger(__name__)


def resolve_option_secrets(value: Any) -> Any:
    """Adapter options may hold ``secret:NAME`` values; they are resolved only in memory."""
    if isinstance(value, str) and is_secret_ref(value):
        return resolve_secret(value)
    if isinstance(value, dict):
        return {k: resolve_option_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_option_secrets(v) for v in value]
    return value


def build_node_client(settings: Settings, *, insecure_dev: bool = False) -> NodeClient:
    node = settings.node
    context = None
    if node.tls is not None:
        refuse_invalid_client_certificate(node.tls.certificate)
        password = (
            resolve_secret(node.tls.private_key_password) if node.tls.private_key_password else None
        )
        context = build_ssl_context(
            node.tls.certificate, node.tls.private_key, node.tls.trust, password
        )
    timeout = httpx.Timeout(
        connect=node.connect_timeout.total_seconds(),
        read=node.read_timeout.total_seconds(),
        write=node.read_timeout.total_seconds(),
        pool=node.connect_timeout.total_seconds(),
    )
    return NodeClient(
        node.url,
        node.participant_id,
        ssl_context=context,
        timeout=timeout,
        allow_insecure=insecure_dev,
    )


def build_receive_context(settings: Settings) -> ssl.SSLContext | None:
    """The receive endpoint's TLS context when ``node.mode`` receives (else None); a file
    that cannot be used is a ConfigError naming its key."""
    from .receive_tls import build_receive_ssl_context

    receive = settings.receive
    if not settings.node.mode.receives or receive is None:
        return None
    receive_body_limit(settings)  # refused here, before anything is created
    tls = receive.tls
    password = resolve_secret(tls.private_key_password) if tls.private_key_password else None
    return build_receive_ssl_context(tls, password)


def receive_body_limit(settings: Settings) -> int:
    """The largest delivery the receive endpoint reads: ``[receive] max_body_bytes``, at most
    (and by default) the largest SOAP envelope of the wire profile; ConfigError above it."""
    limit = settings.receive.max_body_bytes if settings.receive is not None else None
    if limit is None:
        return MAX_ENVELOPE_BYTES
    if limit > MAX_ENVELOPE_BYTES:
        raise ConfigError(
            f"{settings.source or 'the configuration'}: receive.max_body_bytes: must be at "
            f"most {MAX_ENVELOPE_BYTES} (the largest SOAP envelope)"
        )
    return limit


def build_adapters(settings: Settings) -> list[LoadedAdapter]:
    return load_adapters(
        (a.name, a.use, resolve_option_secrets(a.options)) for a in settings.adapters
    )


def creditor_profile(settings: Settings) -> CreditorProfile:
    """Our side of every answer; ConfigError when ``[creditor.contact]`` cannot be sent."""
    contact = settings.creditor.contact
    try:
        person = Contactpersoon(
            naam=contact.naam, telefoonnummer=contact.telefoon, emailadres=contact.email
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        key = {"telefoonnummer": "telefoon", "emailadres": "email"}.get(
            str(first["loc"][0]), str(first["loc"][0])
        )
        rule = {
            "telefoon": "a telephone number of 6 to 20 digits, spaces and dashes, "
            "optionally starting with +, e.g. 020 123 4567",
            "email": "an e-mail address such as invordering@example.org",
        }.get(key, str(first["msg"]))
        raise ConfigError(
            f"{settings.source or 'the configuration'}: creditor.contact.{key}: must be {rule}"
        ) from None
    return CreditorProfile(
        participant_id=settings.node.participant_id,
        vooraf_akkoord=settings.creditor.vooraf_akkoord,
        contact=person,
    )


def build_policy(settings: Settings) -> Policy:
    """The effective policy; ConfigError naming the override that is not valid."""
    try:
        return load_policy(settings.creditor.kind, settings.creditor.covenant, settings.policy)
    except PolicyError as exc:
        raise ConfigError(f"{settings.source or 'the configuration'}: {exc}") from None


@dataclass(frozen=True)
class Checked:
    """What ``check_settings`` built, for ``config check`` to report."""

    adapters: tuple[str, ...]
    policy: Policy


def check_settings(settings: Settings, *, insecure_dev: bool = False) -> Checked:
    """Build every part ``run`` builds before it touches the node, and close them again:
    the policy, our profile, the receive endpoint's TLS context, the adapters, the node
    client with its TLS context, and the store's engine (its URL and, for SQLite, its
    folder), without creating the store. Raises what ``run`` would raise, with the same
    sentence."""
    policy = build_policy(settings)
    creditor_profile(settings)
    build_receive_context(settings)
    adapters = build_adapters(settings)
    try:
        build_node_client(settings, insecure_dev=insecure_dev).close()
        create_store_engine(
            settings.store.url, sqlite_cache_mib=settings.store.sqlite_cache_mib
        ).dispose()
    finally:
        for loaded in adapters:
            loaded.adapter.close()
    return Checked(tuple(a.name for a in adapters), policy)


def build_pipeline(
    settings: Settings,
    store: Store,
    adapters: list[LoadedAdapter],
    node: NodePort | None,
    *,
    policy: Policy,
    creditor: CreditorProfile,
    clock: Callable[[], datetime] | None = None,
) -> Pipeline:
    """The pipeline of ``settings``; ``clock`` (the time it sees) is the system's unless a
    drill gives its fake one."""
    return Pipeline(
        store=store,
        node=node,
        adapters=adapters,
        creditor=creditor,
        working_days=WorkingDays(good_friday=settings.policy.good_friday),
        answer_within_working_days=settings.policy.answer_within_working_days,
        batch_size=settings.node.batch_size,
        policy=policy,
        warn_at_working_days=settings.policy.warn_at_working_days,
        outage_task_after=settings.policy.backoffice_outage_task_after,
        clock=clock or (lambda: datetime.now(UTC)),
    )


def open_creditor_store(settings: Settings) -> Store:
    """The store the configuration names, opened (and migrated) for its creditor: the
    creditor's rows alone are read and changed, every row written is its own. The only
    creditor of a configuration is given the rows of no creditor (from before creditors
    were scoped)."""
    store = open_configured_store(
        settings.store, sole_creditor=settings.creditor_id if settings.sole else None
    )
    return store.scoped(settings.creditor_id)


@contextmanager
def connector(settings: Settings, *, insecure_dev: bool = False) -> Iterator[Pipeline]:
    """The pipeline with its store, node client and adapters; all closed on exit."""
    with connectors((settings,), insecure_dev=insecure_dev) as pipelines:
        yield pipelines[0]


@contextmanager
def connectors(
    creditors: Sequence[Settings], *, insecure_dev: bool = False
) -> Iterator[list[Pipeline]]:
    """A pipeline for each creditor of a deployment (they share its store, opened once, each
    in its creditor's scope), with its node client (its participant id, its certificate),
    adapters and policy; all closed on exit."""
    parts = []
    for settings in creditors:
        for deprecated in settings.deprecations():
            log.warning("%s: %s", settings.source, deprecated)
        for exposed in exposed_files(settings):
            log.warning("%s", exposed)
        parts.append((settings, build_policy(settings), creditor_profile(settings)))
    opened: list[tuple[list[LoadedAdapter], NodeClient | None]] = []
    store: Store | None = None
    try:
        pipelines = []
        for settings, policy, creditor in parts:
            adapters = build_adapters(settings)
            opened.append((adapters, None))
            client = build_node_client(settings, insecure_dev=insecure_dev)
            opened[-1] = (adapters, client)
            if store is None:
                store = open_creditor_store(settings)
            pipelines.append(
                build_pipeline(
                    settings,
                    store.scoped(settings.creditor_id),
                    adapters,
                    client,
                    policy=policy,
                    creditor=creditor,
                )
            )
        yield pipelines
    finally:
        for adapters, made in opened:
            if made is not None:
                made.close()
            for loaded in adapters:
                loaded.adapter.close()
        if store is not None:
            store.close()


@contextmanager
def desk(settings: Settings, store: Store) -> Iterator[Pipeline]:
    """A pipeline without a node client on an open store, with the adapters (closed on
    exit): for a person's actions, which decide and record but neither poll nor deliver."""
    policy = build_policy(settings)
    creditor = creditor_profile(settings)
    adapters = build_adapters(settings)
    try:
        yield build_pipeline(settings, store, adapters, None, policy=policy, creditor=creditor)
    finally:
        for loaded in adapters:
            loaded.adapter.close()
