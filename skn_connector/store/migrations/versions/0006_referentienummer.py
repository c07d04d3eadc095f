"""The SE-Service header as the SKN documents it: Referentienummer is the message's id.

Wire profile 1 named the message id ``BerichtId`` and read ``Referentienummer`` as the
sender's free-text reference. The SKN's page "Bericht header voor SE-Service" defines
``Referentienummer`` (UUID) as the message's id and ``CrossReferentienummer`` as the
Referentienummer of the message being answered. This revision:

- renames the id columns ``bericht_id`` to ``referentienummer`` (inbox, outbox,
  quarantine, tasks, audit) and the outbox's ``in_reply_to`` to ``cross_referentienummer``;
  every value stays, so the audit trail's hash chain still verifies;
- adds ``inbox.cross_referentienummer`` (the message an incoming message answers);
- gives tasks about a hold (``hold_not_applied``) a ``hold_id`` column of their own: they
  kept the hold's id where a message's id belongs;
- rewrites the header of every stored message (received, sent, quarantined) from profile 1
  to profile 2: ``BerichtId`` becomes ``Referentienummer`` (the same value), the free-text
  ``Referentienummer`` and the old ``CrossReferentienummer`` (read as a link between
  conversations) are dropped, and a sent answer gets the Referentienummer of the message
  it answered as its CrossReferentienummer. The inbox and quarantine digests follow the new
  bytes. Bytes that are not a profile-1 message (a purge marker, a quarantined message that
  is not XML) are left as they are.

The header is rewritten here, with lxml alone, and not with the connector's codec: a
migration must do the same thing whatever the code around it becomes.

There is no way back: the previous release cannot read profile-2 messages. Restore the
backup taken before the upgrade instead (docs/operations.md).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op
from lxml import etree

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NS = "urn:skn-connector:berichten:2.0"
_PURGED = b"skn-connector:purged\n"
#: the header's elements in profile 2's order; profile 1's BerichtId becomes Referentienummer
_ORDER = (
    "Referentienummer",
    "CrossReferentienummer",
    "ConversatieReferentienummer",
    "Versie",
    "Berichttype",
    "Module",
    "Afzender",
    "Ontvanger",
    "Verzonden",
    "Toestemmingsverklaring",
)
_RENAMED = (
    ("inbox", "bericht_id", "referentienummer"),
    ("outbox", "bericht_id", "referentienummer"),
    ("outbox", "in_reply_to", "cross_referentienummer"),
    ("quarantine", "bericht_id", "referentienummer"),
    ("tasks", "bericht_id", "referentienummer"),
    ("audit", "bericht_id", "referentienummer"),
)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def profile2(raw: bytes, *, answers: str | None = None) -> bytes | None:
    """The bytes of a profile-1 message with a profile-2 header, or None when ``raw`` is not
    a profile-1 message (then it stays as it is)."""
    if raw.startswith(_PURGED) or b"BerichtId" not in raw:
        return None
    try:
        root = etree.fromstring(raw, parser=_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    header = root.find(f"{{{_NS}}}Berichtheader")
    old_id = header.find(f"{{{_NS}}}BerichtId") if header is not None else None
    if header is None or old_id is None:
        return None
    children = {etree.QName(child).localname: child for child in header}
    for name in ("Referentienummer", "CrossReferentienummer"):
        if name in children:
            header.remove(children.pop(name))
    old_id.tag = f"{{{_NS}}}Referentienummer"
    children["Referentienummer"] = children.pop("BerichtId")
    if answers:
        cross = etree.Element(f"{{{_NS}}}CrossReferentienummer")
        cross.text = answers
        children["CrossReferentienummer"] = cross
    for child in list(header):
        header.remove(child)
    for name in _ORDER:
        if name in children:
            header.append(children.pop(name))
    for child in children.values():  # an element profile 1 did not know: kept, at the end
        header.append(child)
    # the header's bytes are put in place of the old ones, so that the body stays byte for
    # byte as it was received; lxml writes the whole document where that cannot be done
    start, end = raw.find(b"<Berichtheader>"), raw.find(b"</Berichtheader>")
    if root.prefix is None and start > 0 and end > start and raw.count(b"<Berichtheader>") == 1:
        text = etree.tostring(header, encoding="unicode").replace(f' xmlns="{_NS}"', "", 1)
        return raw[:start] + text.encode("utf-8") + raw[end + len(b"</Berichtheader>") :]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _rewrite(
    connection: Any, name: str, column: str, *, digest: bool, answers: str | None = None
) -> None:
    names = ["id", column] + (["sha256"] if digest else []) + ([answers] if answers else [])
    table = sa.table(name, *(sa.column(n) for n in names))
    selected = [table.c.id, table.c[column]] + ([table.c[answers]] if answers else [])
    updates: list[dict[str, Any]] = []
    for row in connection.execute(sa.select(*selected)).fetchall():
        new = profile2(bytes(row[1]), answers=row[2] if answers else None)
        if new is None:
            continue
        update: dict[str, Any] = {"row_id": row[0], "new_bytes": new}
        if digest:
            update["new_digest"] = hashlib.sha256(new).hexdigest()
        updates.append(update)
    if updates:
        values: dict[str, Any] = {column: sa.bindparam("new_bytes")}
        if digest:
            values["sha256"] = sa.bindparam("new_digest")
        statement = table.update().where(table.c.id == sa.bindparam("row_id")).values(values)
        connection.execute(statement, updates)


def upgrade() -> None:
    connection = op.get_bind()
    postgresql = connection.dialect.name == "postgresql"
    for table, old, new in _RENAMED:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
    for table in ("inbox", "outbox"):
        if postgresql:  # SQLite's unique constraints have no name
            op.execute(
                f"ALTER TABLE {table} RENAME CONSTRAINT {table}_bericht_id_key "
                f"TO {table}_referentienummer_key"
            )
    op.drop_index("ix_quarantine_bericht_id", table_name="quarantine")
    op.create_index("ix_quarantine_referentienummer", "quarantine", ["referentienummer"])
    op.add_column("inbox", sa.Column("cross_referentienummer", sa.String(36), nullable=True))
    op.add_column("tasks", sa.Column("hold_id", sa.String(36), nullable=True))
    op.execute(
        "UPDATE tasks SET hold_id = referentienummer, referentienummer = NULL "
        "WHERE kind = 'hold_not_applied'"
    )
    _rewrite(connection, "inbox", "raw", digest=True)
    _rewrite(connection, "quarantine", "raw", digest=True)
    _rewrite(connection, "outbox", "payload", digest=False, answers="cross_referentienummer")


def downgrade() -> None:
    raise NotImplementedError(
        "revision 0006 rewrote the stored messages to wire profile 2, which the previous "
        "release cannot read; restore the backup taken before the upgrade instead"
    )
