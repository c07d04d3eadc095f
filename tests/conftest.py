"""Shared fixtures: a development PKI, the simulated node over mutual TLS, a client to it.

Everything runs over real sockets and real TLS on loopback; the data is synthetic.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from skn_connector.messages import message_from_json
from skn_connector.node.certs import DevPki, write_dev_pki
from skn_connector.node.client import NodeClient, build_ssl_context
from skn_connector.node.simulator import Simulator
from skn_connector.wire.soap import encode_message

from .factories import CREDITOR, SHV, header, saldoverzoek

#: Short enough for fast failure tests, long enough for a loaded CI machine.
TEST_TIMEOUT = httpx.Timeout(5.0)


@pytest.fixture
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A fresh development PKI (CA, node and client certificates) in a temporary directory."""
    return write_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def simulator(pki: DevPki) -> Iterator[Simulator]:
    """The simulated node with mutual TLS on free ports, stopped (threads joined) afterwards."""
    with Simulator(port=0, tls_dir=pki.directory) as sim:
        yield sim


@pytest.fixture
def participant_id() -> uuid.UUID:
    """The creditor's participant id: whose messagebox the connector reads."""
    return CREDITOR


@pytest.fixture
def client_factory(simulator: Simulator, pki: DevPki) -> Iterator[Callable[..., NodeClient]]:
    """Build more NodeClients to the simulator (closed afterwards): ``participant``, ``timeout``."""
    clients: list[NodeClient] = []

    def _make(
        participant: uuid.UUID = CREDITOR, timeout: httpx.Timeout = TEST_TIMEOUT
    ) -> NodeClient:
        context = build_ssl_context(pki.client_cert, pki.client_key, pki.ca_cert)
        client = NodeClient(simulator.url, participant, ssl_context=context, timeout=timeout)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


@pytest.fixture
def node_client(client_factory: Callable[..., NodeClient], participant_id: uuid.UUID) -> NodeClient:
    """A NodeClient for ``participant_id`` with the PKI's client certificate."""
    return client_factory(participant_id)


@pytest.fixture
def admin(simulator: Simulator) -> Iterator[httpx.Client]:
    """An HTTP client for the simulator's admin API."""
    with httpx.Client(base_url=simulator.admin_url, timeout=TEST_TIMEOUT) as client:
        yield client


@pytest.fixture
def queue_saldoverzoek(admin: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Post a valid synthetic Saldoverzoek to the admin API; returns the answer plus the message.

    Keyword arguments go to ``tests.factories.saldoverzoek`` (header overrides included,
    e.g. ``Ontvanger=str(other)`` or ``Referentienummer=...``).
    """

    def _queue(**overrides: Any) -> dict[str, Any]:
        message = saldoverzoek(**overrides)
        response = admin.post("/_admin/messages", json=message)
        assert response.status_code == 201, response.text
        return {**response.json(), "message": message}

    return _queue


def _saldoverzoek_antwoord(
    conversation: uuid.UUID | None = None, referentienummer: uuid.UUID | None = None
) -> dict[str, Any]:
    overrides: dict[str, Any] = {"Afzender": str(CREDITOR), "Ontvanger": str(SHV)}
    if conversation is not None:
        overrides["ConversatieReferentienummer"] = str(conversation)
    if referentienummer is not None:
        overrides["Referentienummer"] = str(referentienummer)
    return {
        "Berichtheader": header("SaldoverzoekAntwoord", **overrides),
        "KlantnummerSE": "SE-000042",
        "Contactpersoon": {"Naam": "A. Invorderaar", "Emailadres": "invordering@gemeente.example"},
        "KlantOnbekend": False,
        "StandaardAkkoord": False,
        "Datum": date(2026, 11, 30).isoformat(),
        "Vorderingen": [
            {
                "Schuldtype": "openstaande schuld",
                "FactuurnummerSEVolgensSHV": "2025.000001.01",
                "FactuurnummerSE": "2025.000001.01",
                "Openstaand": "123.45",
            }
        ],
    }


@pytest.fixture
def antwoord() -> Callable[..., dict[str, Any]]:
    """Build a valid synthetic SaldoverzoekAntwoord (creditor to SHV) in its JSON form;
    optional ``conversation`` and ``referentienummer`` (UUIDs)."""
    return _saldoverzoek_antwoord


@pytest.fixture
def encode() -> Callable[[dict[str, Any]], bytes]:
    """The wire bytes of a message given in its JSON form."""

    def _encode(message: dict[str, Any]) -> bytes:
        return encode_message(message_from_json(message))

    return _encode


#: The PostgreSQL server of the store's PostgreSQL tests (scripts/ensure-postgres starts it).
POSTGRES_ADMIN_URL = os.environ.get(
    "SKN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped after the test."""
    import psycopg

    admin_url = make_url(POSTGRES_ADMIN_URL)
    name = f"skn_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(
            admin_url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {admin_url.render_as_string()} ({exc}); "
            "start it (make test does, with scripts/ensure-postgres) or set SKN_TEST_POSTGRES",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
