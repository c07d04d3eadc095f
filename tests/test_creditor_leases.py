"""Leases per creditor on PostgreSQL (store/creditor_leases.py): the live instances share
the creditors evenly, each creditor's lease held by one instance at a time; an instance that
joins gets its share (the others give theirs back), the creditors of one that dies are
taken over. Real PostgreSQL; each instance its own connection, as in its own process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from skn_connector.store import Store, open_store
from skn_connector.store.creditor_leases import CreditorLeases

CREDITORS = [f"3f1c9a52-1b7e-4d2a-9c11-2a5e8f0b7c{n:02d}" for n in range(10)]


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    opened = open_store(postgres_url)
    yield opened
    opened.close()


def shares(*instances: CreditorLeases) -> list[frozenset[str]]:
    return [instance.held for instance in instances]


def assert_disjoint_and_complete(held: list[frozenset[str]]) -> None:
    assert sum(len(h) for h in held) == len(CREDITORS)
    assert frozenset().union(*held) == frozenset(CREDITORS)


def test_the_creditors_are_spread_taken_over_and_rebalanced(store: Store) -> None:
    first = CreditorLeases(store, CREDITORS)
    assert first.settle() == frozenset(CREDITORS)  # alone: every creditor
    second, third = CreditorLeases(store, CREDITORS), CreditorLeases(store, CREDITORS)
    try:
        # two join: fair is 4 each; the first gives back what is more, they take it
        for _ in range(2):
            for instance in (first, second, third):
                instance.settle()
        assert sorted(len(h) for h in shares(first, second, third)) == [2, 4, 4]
        assert_disjoint_and_complete(shares(first, second, third))
        assert first.live_instances() == 3
        # one stops: it gives its leases back at once, the others take its creditors over
        second.release()
        for instance in (first, third):
            instance.settle()
        assert sorted(len(h) for h in shares(first, third)) == [5, 5]
        assert_disjoint_and_complete(shares(first, third))
        # and a new one gets its share again
        fourth = CreditorLeases(store, CREDITORS)
        try:
            for _ in range(2):
                for instance in (first, third, fourth):
                    instance.settle()
            assert max(len(h) for h in shares(first, third, fourth)) == 4
            assert_disjoint_and_complete(shares(first, third, fourth))
        finally:
            fourth.release()
    finally:
        for instance in (first, second, third):
            instance.release()


def test_a_lease_is_never_held_twice(store: Store) -> None:
    instances = [CreditorLeases(store, CREDITORS) for _ in range(4)]
    try:
        for _ in range(3):
            for instance in instances:
                instance.settle()
                held = [i.held for i in instances]
                assert sum(len(h) for h in held) == len(frozenset().union(*held))
        assert_disjoint_and_complete([i.held for i in instances])
        assert max(len(i.held) for i in instances) == 3
    finally:
        for instance in instances:
            instance.release()


def _backend_of(leases: CreditorLeases) -> int:
    connection = leases._connect()
    pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
    connection.commit()
    return pid


def test_the_creditors_of_an_instance_that_dies_are_taken_over(store: Store) -> None:
    first, second = CreditorLeases(store, CREDITORS), CreditorLeases(store, CREDITORS)
    try:
        for _ in range(2):
            for instance in (first, second):
                instance.settle()
        assert sorted(len(h) for h in shares(first, second)) == [5, 5]
        # the second's server process ends (its instance was killed, its machine lost):
        # the server drops its locks when that process has gone, a moment later
        with store.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": _backend_of(second)})
            admin.commit()
        deadline = time.monotonic() + 10
        while first.live_instances() > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.settle() == frozenset(CREDITORS)
        # the dead one notices its lost connection, takes a new one and its share again
        for _ in range(2):
            for instance in (second, first):
                instance.settle()
        assert sorted(len(h) for h in shares(first, second)) == [5, 5]
        assert_disjoint_and_complete(shares(first, second))
    finally:
        first.release()
        second.release()
