"""Deployments driven through the API in process (the integration tests' ``api`` and ``run``)."""

from __future__ import annotations


def spec(name="web", **over):
    s = {
        "name": name,
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
    }
    s.update(over)
    return s


def comp(api, name="web"):
    return api.get(f"/v1/components/{name}")[2]


def deployment(api, name="web"):
    items = api.get("/v1/deployments", query=f"component={name}")[2]["items"]
    return items[0]


def running(api, run, name="web", **over):
    assert api.post("/v1/components", spec(name, **over))[0] == 201
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    run()
    c = comp(api, name)
    assert c["state"] == "Running", (c, deployment(api, name))
    return c


def update(api, body, name="web"):
    status, _, out = api.post(f"/v1/components/{name}/update", body)
    assert status == 202, out
    return out


GOOD_ANALYSIS = {"measurements": 2, "interval_seconds": 10, "window_seconds": 30, "max_error_rate": 0.05}
