"""``notifications`` and ``alerts`` against the real API in process, with a receiver on 127.0.0.1."""

from __future__ import annotations

import json

from pilothouse.services.alert_sweep import sweep
from pilothouse.services.event_feed import publish
from tests.support.receivers import Receiver


def test_channels_create_list_get_test_deliveries_redeliver_delete(api, cli, loopback_only):
    """Given a receiver on loopback
    When a channel is created, listed, read, tested, its log read, a delivery redelivered and the
    channel deleted through the CLI
    Then the secret is printed once (stderr says so), the test notification arrives signed, the
    log shows it delivered, and JSON output is the API's answer."""
    receiver = Receiver()
    try:
        result = cli(
            "notifications", "channels", "create", "ops", "--url", receiver.url + "/hook", "-e", "alert.*"
        )
        assert result.exit_code == 0, result.output
        secret = next(w for w in result.stdout.split() if w.startswith("whsec_"))
        assert "not shown again" in result.stderr
        receiver.secret = secret
        listed = cli("notifications", "channels", "list")
        assert "ops" in listed.stdout and receiver.url.split("//")[1].split(":")[0] in listed.stdout
        assert "/hook" not in listed.stdout and secret not in listed.stdout
        got = json.loads(cli("-o", "json", "notifications", "channels", "get", "ops").stdout)
        assert got["subscriptions"] == [{"events": ["alert.*"], "components": [], "environments": []}]
        assert "secret" not in got
        tested = json.loads(cli("-o", "json", "notifications", "channels", "test", "ops").stdout)
        log = cli("notifications", "deliveries", "ops")  # a read: the in-process worker delivers first
        assert log.exit_code == 0, log.output
        assert "delivered" in log.stdout and "notification.test" in log.stdout
        assert receiver.verified == [True]
        again = cli("notifications", "redeliver", "ops", tested["id"])
        assert again.exit_code == 0, again.output
        cli("notifications", "deliveries", "ops")
        assert len(receiver.received) == 2
        dead = json.loads(
            cli("-o", "json", "notifications", "deliveries", "ops", "--status", "dead_lettered").stdout
        )
        assert dead["items"] == []
        assert cli("notifications", "channels", "delete", "ops").exit_code == 0
        assert cli("notifications", "channels", "get", "ops").exit_code != 0
    finally:
        receiver.close()


def test_a_refused_url_is_reported_naming_the_field(api, cli, loopback_only):
    result = cli("notifications", "channels", "create", "meta", "--url", "http://169.254.169.254/")
    assert result.exit_code != 0
    assert "url" in result.output and "metadata" in result.output


def test_alert_rules_and_alerts(api, cli):
    """Given rules created with flags and from a file
    When a rollback fires the event rule, and it is acknowledged and silenced
    Then list, get, ack and silence show it, and rule validation errors name the field."""
    result = cli(
        "alerts", "rules", "create", "web-errors", "-k", "metric", "-c", "web", "-m", "error_rate",
        "--comparator", ">", "--threshold", "0.05", "-n", "3", "-M", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert cli("alerts", "rules", "create", "rb", "-k", "event", "-c", "web").exit_code == 0
    rules = cli("alerts", "rules", "list").stdout
    assert "Average(error_rate) > 0.05 in 2 of 3 × 60s" in rules and "deployment.rolled_back" in rules
    bad = cli("alerts", "rules", "create", "x", "-k", "health", "-c", "web", "--for-minutes", "-3")
    assert bad.exit_code != 0 and "for_minutes" in bad.output
    publish(
        api.services,
        {"source": "deployment", "type": "deployment.rolled_back", "component": "web"},
        subject="web",
    )
    sweep(api.services)
    assert "FIRING" in cli("alerts", "list", "--state", "firing").stdout
    acked = cli("alerts", "ack", "rb", "-m", "looking")
    assert acked.exit_code == 0, acked.output
    silenced = cli("alerts", "silence", "rb", "--minutes", "30", "--reason", "deploying a fix")
    assert silenced.exit_code == 0 and "until" in silenced.stdout
    shown = cli("alerts", "get", "rb").stdout
    assert "OK → FIRING" in shown and "acknowledged" in shown and "silenced" in shown
    data = json.loads(cli("-o", "json", "alerts", "get", "rb").stdout)
    assert data["acknowledged"]["comment"] == "looking" and data["silenced"]["reason"] == "deploying a fix"
    assert cli("alerts", "rules", "delete", "rb").exit_code == 0
    assert "rb" not in cli("alerts", "rules", "list").stdout.split()
