"""``pilothouse metrics`` and ``pilothouse autoscale``, against the real API in process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pilothouse.cli.metrics import sparkline
from pilothouse.services import metrics
from pilothouse.services.metrics import Datapoint


def _ingest(api, name="web"):
    now = datetime.fromtimestamp(api.clock.time(), UTC)
    points = [
        Datapoint(name, "latency_ms", float(10 + m), now - timedelta(minutes=m), "Milliseconds")
        for m in range(30)
    ] + [Datapoint(name, "requests", 5.0, now - timedelta(minutes=m), "Count") for m in range(30)]
    metrics.ingest(api.services, points)


def test_sparkline_scales_and_shows_gaps():
    """Given values with a gap, Then the lowest is the lowest bar, the highest the highest, None a space."""
    assert sparkline([1, None, 3]) == "▁ █" and sparkline([None, None]) == "  " and sparkline([2, 2]) == "▁▁"


def test_metrics_table_and_json(api, cli):
    """Given 30 minutes of two metrics, Then the table has a sparkline per metric and -o json the points."""
    api.add("web", "Running")
    _ingest(api)
    result = cli("metrics", "web", "--since", "1h")
    assert result.exit_code == 0, result.output
    assert "latency_ms" in result.stdout and "requests" in result.stdout
    assert any(ch in result.stdout for ch in "▁▂▃▄▅▆▇█")
    result = cli("metrics", "web", "--metric", "latency_ms", "--stat", "p99", "-o", "json")
    answer = json.loads(result.stdout)
    assert answer["stat"] == "p99" and len(answer["points"]) == 61
    assert cli("metrics", "web", "--metric", "latency_ms", "--stat", "p200").exit_code == 1


def test_autoscale_set_get_disable(api, cli):
    """Given a running component, When a policy is set from options, Then get shows it and its
    bounds, disable turns it off, and a bad schedule is a usage error."""
    api.add("web", "Running")
    result = cli(
        "autoscale", "set", "web", "--requests-per-replica", "5", "--schedule", "0 8 * * 1-5@Europe/Paris=2:",
        "--scale-in-cooldown", "120", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)["policy"]
    assert policy["target_tracking"][0]["target"] == 5 and policy["scheduled"][0]["min"] == 2
    assert policy["scale_in_cooldown"] == 120
    shown = cli("autoscale", "get", "web")
    assert "enabled" in shown.stdout and "requests_per_replica at 5" in shown.stdout
    assert cli("autoscale", "disable", "web").exit_code == 0
    assert json.loads(cli("autoscale", "get", "web", "-o", "json").stdout)["policy"]["enabled"] is False
    assert cli("autoscale", "set", "web", "--schedule", "nonsense").exit_code == 2
    assert cli("autoscale", "set", "web").exit_code == 2
    bad = cli("autoscale", "set", "web", "--schedule", "0 25 * * *=1:")
    assert bad.exit_code == 1 and "scheduled" in bad.output
