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


def test_the_demo_sets_greeter_s_policy_and_sends_traffic(api, monkeypatch):
    """Given greeter Running, When the demo's autoscaler step runs, Then greeter has the demo's
    policy, the traffic starts, and the hint names the commands to watch it with."""
    import io

    from rich.console import Console

    from pilothouse.cli import demo_autoscale
    from pilothouse.cli.client import Client
    from pilothouse.cli.demo import DemoRun

    started = []
    monkeypatch.setattr(demo_autoscale, "start_load", started.append)
    api.add("greeter", "Running")
    buffer = io.StringIO()
    with Client("http://pilothouse.test", api.key) as client:
        run = DemoRun(names=["greeter"])
        demo_autoscale.show_autoscaler(client, Console(file=buffer, width=200), run, "./pilothouse")
        policy = client.get("/v1/components/greeter/autoscaling")["policy"]
    assert run.problems == [] and policy["target_tracking"][0]["metric"] == "requests_per_replica"
    assert len(started) == 1 and "autoscale get greeter" in buffer.getvalue()


def test_the_minute_under_way_is_a_point_even_in_its_first_second(api):
    """Given a query ending 0.3 s into a minute, Then that minute is the last bucket (the end was
    truncated to whole seconds, which dropped it during the first second of every minute)."""
    end = datetime(2026, 12, 2, 17, 38, 0, 300_000, tzinfo=UTC)
    points = metrics.query(
        api.services, "web", "latency_ms", stat="p99", period=60, start=end - timedelta(hours=1), end=end
    )
    assert len(points) == 61 and points[-1].timestamp == end.replace(microsecond=0)
