"""Cold load of one HTTP function (get_component) per cloud: Lambda's module load, the Azure
Functions worker's (index function_app.py, load the function's module) and functions-framework's
(load main.py, load the function's module), each in fresh interpreters, interleaved, median of
BENCH_RUNS, against the anchor every HTTP function pays anyway (importing Powertools' event
handler)."""

from __future__ import annotations

import os
import statistics

import pytest

from tests.support.bench import report
from tests.support.cloud_imports import load

pytest.importorskip("azure.functions")
pytest.importorskip("functions_framework")


@pytest.mark.slow
def test_cold_load_of_an_http_function_per_cloud():
    runs = int(os.environ.get("BENCH_RUNS", "7"))
    clouds = ("anchor", "aws", "azure", "gcp")
    samples: dict[str, list[float]] = {c: [] for c in clouds}
    for _ in range(runs):
        for cloud in clouds:
            samples[cloud].append(load(cloud, call=False)["seconds"])
    anchor = statistics.median(samples["anchor"])
    rows = {"anchor: import aws_lambda_powertools.event_handler": f"{anchor * 1000:.0f} ms"}
    for cloud in clouds[1:]:
        median = statistics.median(samples[cloud])
        best = min(samples[cloud])
        rows[f"{cloud}: get_component"] = (
            f"median {median * 1000:.0f} ms (min {best * 1000:.0f} ms)  {median / anchor:.1f}x anchor"
        )
    report(f"cold load of one HTTP function, median of {runs} fresh interpreters", rows)
    assert all(len(s) == runs for s in samples.values())
