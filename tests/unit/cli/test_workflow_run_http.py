"""``pilothouse workflow run`` runs HTTP tasks offline (issue 14 §2): for real, to servers on
127.0.0.1, through the same outbound guard as the control plane; ``component://NAME`` needs
``--component NAME=URL``; plain URLs only to the allow-list; Retry and Catch on
``States.Http.StatusCode.<code>`` as on AWS."""

from __future__ import annotations

import json

import pytest

from tests.support.http_tasks import Scripted


def _call(endpoint: str, **extra) -> dict:
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": endpoint, "Method": "POST", "RequestBody.$": "$"},
        "End": True,
        **extra,
    }
    return {"StartAt": "Call", "States": {"Call": task}}


@pytest.fixture
def write(tmp_path):
    def write(name: str, doc) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(doc), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def server():
    s = Scripted([(503, {"busy": True}), (200, {"parsed": 3})])
    yield s
    s.close()


def _run(cli, *args):
    result = cli("workflow", "run", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_component_task_runs_with_retry_on_503(cli, write, server, loopback_only):
    """Given --component parser=<server>, When the task retries on States.Http.StatusCode.503,
    Then the server is called twice (no real wait) and the output is the AWS shape."""
    retry = [{"ErrorEquals": ["States.Http.StatusCode.503"], "IntervalSeconds": 60, "MaxAttempts": 2}]
    body = _run(
        cli,
        "-d",
        write("d.json", _call("component://parser/parse", Retry=retry)),
        "-i",
        '{"text": "# Hi"}',
        "--component",
        f"parser={server.url}",
    )
    assert body["status"] == "SUCCEEDED", body
    assert body["output"]["StatusCode"] == 200 and body["output"]["ResponseBody"] == {"parsed": 3}
    assert [s["path"] for s in server.seen] == ["/parse", "/parse"]
    assert json.loads(server.seen[0]["body"]) == {"text": "# Hi"}


def test_a_404_is_caught(cli, write, loopback_only):
    gone = Scripted([(404, {"message": "no route"})])
    catch = [{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.error", "Next": "Gone"}]
    flow = _call("component://gen/x", Catch=catch)
    flow["States"]["Gone"] = {"Type": "Pass", "End": True}
    try:
        body = _run(cli, "-d", write("d.json", flow), "-c", f"gen={gone.url}")
    finally:
        gone.close()
    assert body["status"] == "SUCCEEDED" and body["output"]["error"]["Error"] == "States.Http.StatusCode.404"


def test_a_component_without_a_url_fails_clearly(cli, write):
    body = _run(cli, "-d", write("d.json", _call("component://parser/parse")))
    assert (body["status"], body["error"]) == ("FAILED", "States.Http.Socket")
    assert "--component parser=" in body["cause"]


@pytest.mark.parametrize(
    "endpoint", ["http://169.254.169.254/latest/meta-data", "http://[fd00:ec2::254]/", "http://192.0.0.192/"]
)
def test_a_metadata_address_is_refused_before_anything_runs(cli, write, endpoint):
    result = cli("workflow", "run", "-d", write("d.json", _call(endpoint)))
    assert result.exit_code == 2
    assert "ApiEndpoint" in result.output


def test_plain_urls_only_to_the_allow_list(cli, write, server, monkeypatch, loopback_only):
    """Given no allow-list, a plain URL is refused at validation; with 127.0.0.1 on it, it runs; a
    computed URL to a metadata address is refused when the task runs, with nothing sent."""
    flow = _call(server.url + "/p", Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}])
    assert cli("workflow", "run", "-d", write("d.json", flow)).exit_code == 2
    monkeypatch.setenv("PILOTHOUSE_HTTP_TASK_ALLOW_HOSTS", "127.0.0.1")
    assert _run(cli, "-d", write("d.json", flow))["status"] == "SUCCEEDED"
    computed = _call("unused")
    params = computed["States"]["Call"]["Parameters"]
    del params["ApiEndpoint"]
    params["ApiEndpoint.$"] = "$.url"
    seen = len(server.seen)
    body = _run(cli, "-d", write("c.json", computed), "-i", '{"url": "http://169.254.169.254/x"}')
    assert (body["status"], body["error"]) == ("FAILED", "Pilothouse.HttpTaskRefused")
    assert len(server.seen) == seen


def test_a_component_url_that_redirects_is_not_followed(cli, write, loopback_only):
    """A component answering 302 with Location: a metadata address: the task fails with
    States.Http.StatusCode.302, and nothing follows it (loopback_only would fail the test)."""
    from http.server import BaseHTTPRequestHandler

    from tests.support.httpservers import ThreadedServer

    hits: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    moved = ThreadedServer(Redirect)
    try:
        body = _run(cli, "-d", write("d.json", _call("component://m/x")), "-c", f"m={moved.url}")
    finally:
        moved.close()
    assert body["error"] == "States.Http.StatusCode.302" and hits == ["/x"]


def test_bad_component_options_are_usage_errors(cli, write):
    result = cli("workflow", "run", "-d", write("d.json", _call("component://p/x")), "-c", "p")
    assert result.exit_code == 2 and "NAME=" in " ".join(result.output.replace("│", " ").split())
