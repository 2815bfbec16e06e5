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
