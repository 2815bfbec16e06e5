"""CloudWatch Embedded Metric Format documents (what Powertools Metrics prints) as datapoints, pure.

    >>> doc = {"_aws": {"Timestamp": 1800000000000, "CloudWatchMetrics": [{"Namespace": "Pilothouse",
    ...   "Dimensions": [["service"]], "Metrics": [{"Name": "Hits", "Unit": "Count"}]}]},
    ...   "service": "greeter", "Hits": [1, 2]}
    >>> [(d.component, d.name, d.value, d.unit) for d in datapoints(doc, default_component="x")]
    [('greeter', 'Hits', 1.0, 'Count'), ('greeter', 'Hits', 2.0, 'Count')]

The component is the document's ``component`` member, else its ``service`` (Powertools' service
name), else ``default_component``; the other dimensions of each dimension set stay dimensions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pilothouse.domain.metrics import Datapoint

#: the most values one EMF metric may carry (CloudWatch's limit)
MAX_VALUES = 100


class EmfError(ValueError):
    """A document that is not EMF; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def is_emf(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("_aws"), dict)


def _number(value: Any) -> float | None:
    """The value as a float if it is a JSON number (not a boolean), else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def datapoints(doc: dict[str, Any], *, default_component: str) -> list[Datapoint]:
    """The datapoints of one EMF document (EmfError names the first thing wrong with it)."""
    meta = doc.get("_aws")
    if not isinstance(meta, dict):
        raise EmfError("_aws", "an EMF document carries an _aws object")
    stamp = meta.get("Timestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        raise EmfError("_aws.Timestamp", "milliseconds since the epoch")
    try:
        moment = datetime.fromtimestamp(stamp / 1000, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise EmfError("_aws.Timestamp", "milliseconds since the epoch") from exc
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        raise EmfError("_aws.CloudWatchMetrics", "a non-empty list of metric directives")
    out: list[Datapoint] = []
    for d, directive in enumerate(directives):
        where = f"_aws.CloudWatchMetrics.{d}"
        if not isinstance(directive, dict) or not isinstance(directive.get("Metrics"), list):
            raise EmfError(where, "a directive with Metrics")
        sets = directive.get("Dimensions") or [[]]
        if not isinstance(sets, list) or not all(isinstance(s, list) for s in sets):
            raise EmfError(f"{where}.Dimensions", "a list of dimension sets (lists of member names)")
        for m, metric in enumerate(directive["Metrics"]):
            if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
                raise EmfError(f"{where}.Metrics.{m}", "a metric with a Name")
            name, unit = metric["Name"], metric.get("Unit", "None")
            raw = doc.get(name)
            listed = raw if isinstance(raw, list) else [raw]
            values = [n for n in map(_number, listed) if n is not None]
            if not values or len(values) > MAX_VALUES or len(values) != len(listed):
                raise EmfError(name, f"a number or a list of 1-{MAX_VALUES} numbers")
            for dimension_set in sets:
                dims: dict[str, str] = {}
                for key in dimension_set:
                    value = doc.get(key) if isinstance(key, str) else None
                    if not isinstance(value, str):
                        raise EmfError(str(key), "a dimension names a string member of the document")
                    dims[key] = value
                component = doc.get("component") or dims.get("service") or default_component
                dims = {k: v for k, v in dims.items() if k not in ("component", "service")}
                out.extend(Datapoint(str(component), name, v, moment, str(unit), dims) for v in values)
    return out
