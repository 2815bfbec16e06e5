"""Metrics of a Lambda revision: CloudWatch ``AWS/Lambda`` invocations, errors and duration of
the version as invoked through the alias, and the component's alarms in ``ALARM``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pilothouse.providers.aws_lambda.health import _Health
from pilothouse.providers.aws_lambda.target import Target
from pilothouse.providers.base import Metrics, Placement

__all__: list[str] = []

ALARM_NAMES_PER_CALL = 100  # DescribeAlarms' limit


class _MetricsAndAlarms(_Health):
    """Reading CloudWatch for one revision."""

    def read_metrics(self, placement: Placement, revision: str, window_seconds: float) -> Metrics:
        """CloudWatch metrics of ``revision`` invoked through the alias, and the alarms in ALARM."""
        d = placement.details
        t = Target.of_details(d)
        period = max(60, int(math.ceil(window_seconds / 60.0)) * 60)
        end = self.clock.time()
        dims = [
            {"Name": "FunctionName", "Value": t.bare_function},
            {"Name": "Resource", "Value": f"{t.bare_function}:{t.alias}"},
            {"Name": "ExecutedVersion", "Value": str(revision)},
        ]

        def query(qid: str, metric: str, stat: str) -> dict[str, Any]:
            return {
                "Id": qid,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }

        queries = [
            query("invocations", "Invocations", "Sum"),
            query("errors", "Errors", "Sum"),
            query("latency", "Duration", self.latency_statistic),
        ]
        values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
        pages = self._pages(
            "cloudwatch",
            t.region,
            "GetMetricData",
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(end - window_seconds, UTC),
            # one second of slack: timestamps are compared at second precision (moto truncates)
            EndTime=datetime.fromtimestamp(math.floor(end) + 1, UTC),
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                values.setdefault(result["Id"], []).extend(
                    float(v) for v in result.get("Values", []) if v is not None
                )
        requests = int(round(sum(values["invocations"])))
        errors = int(round(sum(values["errors"])))
        latency = max(values["latency"]) if values["latency"] and requests else None
        return Metrics(
            requests=requests,
            errors=errors,
            error_rate=(errors / requests) if requests else None,
            p99_ms=latency,
            window_seconds=window_seconds,
            alarms_in_alarm=self._alarms_in_alarm(t, list(d.get("alarms") or [])),
        )

    def _alarms_in_alarm(self, t: Target, names: list[str]) -> tuple[str, ...]:
        """Which of the alarms ``names`` (metric or composite) are in ``ALARM`` now, sorted."""
        found: list[str] = []
        for start in range(0, len(names), ALARM_NAMES_PER_CALL):
            pages = self._pages(
                "cloudwatch",
                t.region,
                "DescribeAlarms",
                AlarmNames=names[start : start + ALARM_NAMES_PER_CALL],
                AlarmTypes=["MetricAlarm", "CompositeAlarm"],
            )
            for page in pages:
                for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    if alarm.get("StateValue") == "ALARM":
                        found.append(alarm["AlarmName"])
        return tuple(sorted(set(found)))

    #: (query id, CloudWatch metric, statistic, our metric name, unit) collected every minute
    COLLECTED = (
        ("requests", "Invocations", "Sum", "requests", "Count"),
        ("errors", "Errors", "Sum", "errors", "Count"),
        ("throttles", "Throttles", "Sum", "throttles", "Count"),
        ("durationavg", "Duration", "Average", "duration_ms_avg", "Milliseconds"),
        ("durationp99", "Duration", "p99", "duration_ms_p99", "Milliseconds"),
        ("concurrency", "ConcurrentExecutions", "Maximum", "concurrency", "Count"),
    )

    def collect_metrics(self, placement: Placement, since: float, until: float) -> list[dict[str, Any]]:
        """CloudWatch's per-minute figures of the function behind the alias over [since, until)
        (GetMetricData), as datapoints named as :data:`COLLECTED` says."""
        t = Target.of_details(placement.details)
        dims = [
            {"Name": "FunctionName", "Value": t.bare_function},
            {"Name": "Resource", "Value": f"{t.bare_function}:{t.alias}"},
        ]
        queries = [
            {
                "Id": qid,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
                    "Period": 60,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for qid, metric, stat, _name, _unit in self.COLLECTED
        ]
        named = {qid: (name, unit) for qid, _m, _s, name, unit in self.COLLECTED}
        out: list[dict[str, Any]] = []
        pages = self._pages(
            "cloudwatch",
            t.region,
            "GetMetricData",
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(since, UTC),
            EndTime=datetime.fromtimestamp(until, UTC),
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                name, unit = named[result["Id"]]
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    when = stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
                    if value is not None and since <= when < until:
                        out.append(
                            {
                                "name": name,
                                "value": float(value),
                                "timestamp": when,
                                "unit": unit,
                                "dimensions": {"alias": t.alias},
                            }
                        )
        return out
