"""What ``POST /v1/metrics`` accepts: datapoints and EMF documents (issue 11 §1), pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: datapoints per request, EMF values included (CloudWatch's PutMetricData takes 1,000)
MAX_DATAPOINTS = 1000


class DatapointIn(BaseModel):
    """One datapoint as sent; the timestamp defaults to the moment it is received."""

    model_config = ConfigDict(extra="forbid")

    component: str = Field(max_length=63)
    name: str = Field(max_length=255)
    value: float
    unit: str = Field(default="None", max_length=32)
    timestamp: datetime | None = None
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=10)


class MetricsRequest(BaseModel):
    """A batch: plain datapoints, EMF documents (what Powertools Metrics prints), or both."""

    model_config = ConfigDict(extra="forbid")

    datapoints: list[DatapointIn] = Field(default_factory=list, max_length=MAX_DATAPOINTS)
    emf: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_DATAPOINTS)
