"""The dashboard's pieces on their own: SSE framing and what a stream may follow, the ASL graph and
an execution's path, the charts' escaping, and the handler's answers where API Gateway serves it."""

from __future__ import annotations

from pilothouse.dashboard import asl_graph, charts
from pilothouse.dashboard.handler import handle
from pilothouse.embedded.gateway_sse import event_block, followed
from pilothouse.runtime.events import http_event


def test_event_block_puts_every_line_in_its_own_data_field():
    block = event_block("fragment", "<p>a</p>\n<p>b</p>\r\nc")
    assert block == b"event: fragment\ndata: <p>a</p>\ndata: <p>b</p>\ndata: c\n\n"


def test_a_stream_follows_only_dashboard_fragments_of_this_gateway():
    assert followed("path=%2Fui%2Fdeployments%2Fd1%3Fpart%3Dlive") == ("/ui/deployments/d1", "part=live")
    for bad in (
        "path=/v1/api-keys",
        "path=http://evil.example/ui/x",
        "path=/ui/stream",
        "path=/ui/../v1/x",
        "",
    ):
        assert followed(bad) is None, bad


def test_on_api_gateway_the_stream_answers_404_so_the_browser_polls():
    answer = handle(http_event("GET", "/ui/stream", query="path=/ui/overview"))
    assert answer["statusCode"] == 404 and "If-None-Match" in answer["body"]


def test_the_graph_colours_the_path_current_and_failed_states():
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Work"}],
                "Default": "Fail",
            },
            "Work": {
                "Type": "Task",
                "Resource": "x",
                "Next": "Done",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Fail"}],
            },
            "Done": {"Type": "Succeed"},
            "Fail": {"Type": "Fail"},
            "Orphan": {"Type": "Pass", "End": True},
        },
    }
    assert asl_graph.layers(definition) == [["Check"], ["Work", "Fail"], ["Done"], ["Orphan"]]
    history = [
        {"type": "ExecutionStarted"},
        {"type": "ChoiceStateEntered", "stateEnteredEventDetails": {"name": "Check"}},
        {"type": "ChoiceStateExited", "stateExitedEventDetails": {"name": "Check"}},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Work"}},
        {"type": "TaskFailed", "taskFailedEventDetails": {"error": "boom"}},
    ]
    visited, current, failed = asl_graph.path_of(history)
    assert visited == {"Check", "Work"} and current == "Work" and failed == "Work"
    svg = asl_graph.draw(definition, visited=visited, current=None, failed=failed)
    assert 'class="state failed" data-state="Work"' in svg
    assert 'class="state visited" data-state="Check"' in svg
    assert 'class="state idle" data-state="Done"' in svg
    assert svg.count('<path class="edge') == 4  # choice, default, next, catch
    assert svg.count("taken") == 1 and 'class="edge choice taken"' in svg  # Check -> Work only


def test_state_names_with_markup_are_escaped_in_the_graph():
    svg = asl_graph.draw({"StartAt": "<b>x</b>", "States": {"<b>x</b>": {"Type": "Succeed"}}})
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg


def test_charts_draw_gaps_markers_and_thresholds():
    svg = charts.line_chart(
        "p99",
        [(0, 1.0), (60, None), (120, 3.0), (180, 4.0)],
        unit="ms",
        markers=[(90, "deployment d1")],
        threshold=3.5,
    )
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert 'class="marker"' in svg and 'class="threshold"' in svg
    assert "no data yet" in charts.line_chart("x", [])
    bar = charts.traffic_bar([("v1 <i>", 80.0), ("v2", 20.0)])
    assert "&lt;i&gt;" in bar and bar.count("<rect") == 2
    analysis = charts.analysis_chart([("errors %", 2.0, 5.0, True), ("p99 ms", 900.0, 500.0, False)])
    assert 'class="bar pass"' in analysis and 'class="bar fail"' in analysis
