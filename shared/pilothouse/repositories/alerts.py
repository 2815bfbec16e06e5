"""Alert rules, their alerts' state and history on the storage port.

=========  ===================================================  =====================================
partition  sort key (sk)                                        what
=========  ===================================================  =====================================
``ALERT``  ``R#<rule name>``                                    a rule as created
``ALERT``  ``A#<rule name>``                                    its alert: state, since, values
``ALERT``  ``H#<rule>#<epoch ms, 15 digits>#<history no, 8>``   one change (state, ack, silence)
``ALERT``  ``OUTBOX#...``                                       an alert event, until dispatched
=========  ===================================================  =====================================

Everything of the alerting lives in one partition, so that a rule and its alert are created and
deleted in one transaction, and every change of an alert is a conditional write on the version
read with its history entry (keyed by the alert's own change counter, so two racing evaluations
cannot both land) and, for ``alert.firing`` / ``alert.resolved``, its event-feed entry, in one
transaction that every store commits (Azure Tables included). Alert writes are few (a sweep a
minute and people's acknowledgements), far below a partition's throughput. The layout before
(``ALERT_RULE``, ``ALERT``, ``ALERT_HISTORY#<rule>``) is moved by :func:`migrate_legacy`.
"""

from __future__ import annotations

import builtins
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, NotFound
from pilothouse.ports import Delete, Item, Put, Store, Write
from pilothouse.repositories.outbox import mark_dirty, outbox_put

ALERT_PK = "ALERT"
RULE_PREFIX = "R#"
STATE_PREFIX = "A#"
HISTORY_PREFIX = "H#"
#: where the layout before kept rules and alerts' history
LEGACY_RULE_PK = "ALERT_RULE"
LEGACY_HISTORY_PREFIX = "ALERT_HISTORY#"


def rule_sk(name: str) -> str:
    return RULE_PREFIX + name


def state_sk(name: str) -> str:
    return STATE_PREFIX + name


def history_prefix(rule: str) -> str:
    return f"{HISTORY_PREFIX}{rule}#"


class AlertRepository:
    """Rules and alerts by rule name. ``get_*`` answer None, ``require_*`` raise NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- rules ----------------------------------------------------------------------------------

    def get_rule(self, name: str) -> dict[str, Any] | None:
        item = self.store.get(ALERT_PK, rule_sk(name))
        return item.data if item else None

    def require_rule(self, name: str) -> dict[str, Any]:
        rule = self.get_rule(name)
        if rule is None:
            raise NotFound(f"no alert rule named {name[:100]!r}")
        return rule

    def rules(self) -> builtins.list[dict[str, Any]]:
        return [i.data for i in self.store.scan_all(ALERT_PK, RULE_PREFIX)]

    def create_rule(self, rule: dict[str, Any], alert: dict[str, Any]) -> None:
        """The rule and its alert (state OK), together; AlreadyExists if the name is taken."""
        try:
            self.store.transact(
                [
                    Put(
                        Item(ALERT_PK, rule_sk(rule["name"]), stored("AlertRuleRecord", rule)), if_absent=True
                    ),
                    Put(Item(ALERT_PK, state_sk(rule["name"]), stored("AlertRecord", alert))),
                ]
            )
        except AlreadyExists:
            raise AlreadyExists(f"an alert rule named {rule['name']!r} exists") from None

    def delete_rule(self, name: str) -> None:
        """Delete the rule and its alert (the history stays)."""
        rule = self.store.get(ALERT_PK, rule_sk(name))
        if rule is None:
            raise NotFound(f"no alert rule named {name[:100]!r}")
        self.store.transact(
            [Delete(ALERT_PK, rule.sk, if_version=rule.version), Delete(ALERT_PK, state_sk(name))]
        )

    # -- alerts ---------------------------------------------------------------------------------

    def alert(self, name: str) -> Item | None:
        """The alert of rule ``name`` (its ``sk`` is :func:`state_sk`; the rule's name is
        ``name_of(item)``)."""
        return self.store.get(ALERT_PK, state_sk(name))

    def require_alert(self, name: str) -> Item:
        item = self.alert(name)
        if item is None:
            raise NotFound(f"no alert for a rule named {name[:100]!r}")
        return item

    def alerts(self) -> builtins.list[Item]:
        return self.store.scan_all(ALERT_PK, STATE_PREFIX)

    def save(
        self,
        read: Item,
        data: dict[str, Any],
        history: dict[str, Any] | None = None,
        feed: dict[str, Any] | None = None,
    ) -> Item:
        """Write ``data`` over the alert ``read`` (VersionConflict if it changed since), with a
        history entry and a feed event if given, in one transaction."""
        writes: list[Write] = []
        rule = name_of(read)
        if history is not None:
            data["history_count"] = read.data.get("history_count", 0) + 1
            now = self.store.clock.time()
            entry = stored("AlertHistoryRecord", {"rule": rule, "at": iso(now), **history})
            sk = f"{history_prefix(rule)}{int(now * 1000):015d}#{data['history_count']:08d}"
            writes.append(Put(Item(ALERT_PK, sk, entry), if_absent=True))
        if feed is not None:
            subject = read.data.get("component") or rule
            mark_dirty(self.store, ALERT_PK, subject=ALERT_PK)
            writes.append(outbox_put(self.store, feed, subject=subject, partition=ALERT_PK))
        written = self.store.transact(
            [Put(Item(ALERT_PK, read.sk, stored("AlertRecord", data)), if_version=read.version), *writes]
        )
        return written[0]

    def history(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        page = self.store.query(ALERT_PK, history_prefix(name), limit=limit, cursor=cursor, reverse=True)
        return [i.data for i in page.items], page.cursor


def name_of(alert: Item) -> str:
    """The rule name of an alert item."""
    return alert.sk[len(STATE_PREFIX) :]


def migrate_legacy(store: Store, history_partitions: builtins.set[str]) -> int:
    """Move rules, alerts and the history partitions (``ALERT_HISTORY#<rule>``, deleted rules'
    too) of the layout before into the ``ALERT`` partition (versions kept; an item already at its
    new place wins); idempotent. How many it moved."""
    from dataclasses import replace

    moved = 0
    legacy: builtins.list[tuple[Item, str]] = [(i, rule_sk(i.sk)) for i in store.scan_all(LEGACY_RULE_PK)]
    legacy += [
        (i, state_sk(i.sk))
        for i in store.scan_all(ALERT_PK)
        if not i.sk.startswith((RULE_PREFIX, STATE_PREFIX, HISTORY_PREFIX, "OUTBOX#"))
    ]
    for pk in sorted(history_partitions):
        rule = pk[len(LEGACY_HISTORY_PREFIX) :]
        legacy += [(h, history_prefix(rule) + h.sk) for h in store.scan_all(pk)]
    for item, sk in legacy:
        if store.get(ALERT_PK, sk) is None:
            store.load([replace(item, pk=ALERT_PK, sk=sk)])
            moved += 1
        store.delete(item.pk, item.sk)
    return moved
