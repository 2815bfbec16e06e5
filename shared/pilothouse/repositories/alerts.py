"""Alert rules, their alerts' state and history on the storage port.

=========================  ==========================================  ===============================
partition (pk)             sort key (sk)                               what
=========================  ==========================================  ===============================
``ALERT_RULE``             ``<rule name>``                             a rule as created
``ALERT``                  ``<rule name>``                             its alert: state, since, values
``ALERT_HISTORY#<rule>``   ``<epoch ms, 15 digits>#<history no, 8>``   one change (state, ack, silence)
=========================  ==========================================  ===============================

A rule and its alert are created and deleted together. Every change of an alert is a conditional
write on the version read, with its history entry (keyed by the alert's own change counter, so
two racing evaluations cannot both land) and, for ``alert.firing`` / ``alert.resolved``, its
event-feed entry in the same transaction.
"""

from __future__ import annotations

import builtins
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import AlreadyExists, NotFound
from pilothouse.ports import Delete, Item, Put, Store, Write
from pilothouse.repositories.outbox import outbox_put

RULE_PK = "ALERT_RULE"
ALERT_PK = "ALERT"


def history_pk(rule: str) -> str:
    return f"ALERT_HISTORY#{rule}"


class AlertRepository:
    """Rules and alerts by rule name. ``get_*`` answer None, ``require_*`` raise NotFound."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- rules ----------------------------------------------------------------------------------

    def get_rule(self, name: str) -> dict[str, Any] | None:
        item = self.store.get(RULE_PK, name)
        return item.data if item else None

    def require_rule(self, name: str) -> dict[str, Any]:
        rule = self.get_rule(name)
        if rule is None:
            raise NotFound(f"no alert rule named {name[:100]!r}")
        return rule

    def rules(self) -> builtins.list[dict[str, Any]]:
        return [i.data for i in self.store.scan_all(RULE_PK)]

    def create_rule(self, rule: dict[str, Any], alert: dict[str, Any]) -> None:
        """The rule and its alert (state OK), together; AlreadyExists if the name is taken."""
        try:
            self.store.transact(
                [
                    Put(Item(RULE_PK, rule["name"], stored("AlertRuleRecord", rule)), if_absent=True),
                    Put(Item(ALERT_PK, rule["name"], stored("AlertRecord", alert))),
                ]
            )
        except AlreadyExists:
            raise AlreadyExists(f"an alert rule named {rule['name']!r} exists") from None

    def delete_rule(self, name: str) -> None:
        """Delete the rule and its alert (the history stays)."""
        rule = self.store.get(RULE_PK, name)
        if rule is None:
            raise NotFound(f"no alert rule named {name[:100]!r}")
        self.store.transact([Delete(RULE_PK, name, if_version=rule.version), Delete(ALERT_PK, name)])

    # -- alerts ---------------------------------------------------------------------------------

    def alert(self, name: str) -> Item | None:
        return self.store.get(ALERT_PK, name)

    def require_alert(self, name: str) -> Item:
        item = self.alert(name)
        if item is None:
            raise NotFound(f"no alert for a rule named {name[:100]!r}")
        return item

    def alerts(self) -> builtins.list[Item]:
        return self.store.scan_all(ALERT_PK)

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
        if history is not None:
            data["history_count"] = read.data.get("history_count", 0) + 1
            now = self.store.clock.time()
            entry = stored("AlertHistoryRecord", {"rule": read.sk, "at": iso(now), **history})
            sk = f"{int(now * 1000):015d}#{data['history_count']:08d}"
            writes.append(Put(Item(history_pk(read.sk), sk, entry), if_absent=True))
        if feed is not None:
            writes.append(outbox_put(self.store, feed, subject=read.data.get("component") or read.sk))
        written = self.store.transact(
            [Put(Item(ALERT_PK, read.sk, stored("AlertRecord", data)), if_version=read.version), *writes]
        )
        return written[0]

    def history(
        self, name: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        page = self.store.query(history_pk(name), limit=limit, cursor=cursor, reverse=True)
        return [i.data for i in page.items], page.cursor
