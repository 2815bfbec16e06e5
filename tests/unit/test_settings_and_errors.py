"""Settings from an injected environ; the error family's problem+json."""

import os
import threading
from dataclasses import FrozenInstanceError

import pytest

from pilothouse.errors import ConfigurationError, IllegalTransition, TooManyRequests, ValidationFailed
from pilothouse.settings import Settings, get_settings


def test_settings_read_only_prefixed_variables():
    s = Settings.from_environ(
        {"PILOTHOUSE_STORE": "memory", "PILOTHOUSE_DATA_DIR": "/tmp/x", "HOME": "/root"}
    )
    assert s.store == "memory" and str(s.data_dir) == "/tmp/x" and s.queue == "local"


def test_bad_settings_name_the_variable():
    with pytest.raises(ConfigurationError) as info:
        Settings.from_environ({"PILOTHOUSE_STORE": "oracle", "PILOTHOUSE_IDEMPOTENCY_TTL_SECONDS": "0"})
    assert (
        "PILOTHOUSE_STORE" in info.value.detail and "PILOTHOUSE_IDEMPOTENCY_TTL_SECONDS" in info.value.detail
    )


def test_settings_are_cached_per_environment():
    a = get_settings({"PILOTHOUSE_STORE": "memory"})
    assert get_settings({"PILOTHOUSE_STORE": "memory", "OTHER": "1"}) is a
    assert get_settings({"PILOTHOUSE_STORE": "sqlite"}) is not a


def test_process_settings_follow_the_environment_as_it_is_now(monkeypatch):
    # Given settings read from os.environ (and cached)
    monkeypatch.setenv("PILOTHOUSE_STORE", "memory")
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", "/tmp/daten-é")
    first = get_settings()
    assert get_settings() is first and first.store == "memory" and str(first.data_dir) == "/tmp/daten-é"
    # When a variable changes, appears or goes away, Then the next call sees it
    monkeypatch.setenv("PILOTHOUSE_STORE", "sqlite")
    assert get_settings().store == "sqlite"
    monkeypatch.setenv("PILOTHOUSE_MAX_BODY_BYTES", "2048")
    assert get_settings().max_body_bytes == 2048
    monkeypatch.delenv("PILOTHOUSE_MAX_BODY_BYTES")
    assert get_settings().max_body_bytes == 1_048_576
    monkeypatch.setenv("PILOTHOUSE_MAX_BODY_BYTES", "4096")  # back, with another value
    assert get_settings().max_body_bytes == 4096
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")  # others do not matter
    assert get_settings() is get_settings(dict(os.environ))
    # And a bad value still names the variable
    monkeypatch.setenv("PILOTHOUSE_STORE", "oracle")
    with pytest.raises(ConfigurationError, match="PILOTHOUSE_STORE"):
        get_settings()


def test_settings_read_while_other_threads_change_the_environment(monkeypatch):
    # Given threads reading settings while another sets and unsets variables (ours and others)
    monkeypatch.setenv("PILOTHOUSE_STORE", "memory")
    monkeypatch.delenv("PILOTHOUSE_MAX_BODY_BYTES", raising=False)
    stop = threading.Event()
    seen: list[object] = []

    def churn() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            os.environ[f"PH_TEST_CHURN_{i % 50}"] = str(i)
            os.environ["PILOTHOUSE_MAX_BODY_BYTES"] = "2048" if i % 2 else "4096"
            os.environ.pop(f"PH_TEST_CHURN_{(i + 25) % 50}", None)
            os.environ.pop("PILOTHOUSE_MAX_BODY_BYTES", None)

    def read() -> None:
        try:
            for _ in range(3000):
                s = get_settings()
                assert s.store == "memory" and s.max_body_bytes in (2048, 4096, 1_048_576)
        except Exception as exc:  # pragma: no cover - the failure being tested for
            seen.append(exc)

    writer = threading.Thread(target=churn)
    readers = [threading.Thread(target=read) for _ in range(4)]
    writer.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    writer.join()
    for i in range(50):
        os.environ.pop(f"PH_TEST_CHURN_{i}", None)
    os.environ.pop("PILOTHOUSE_MAX_BODY_BYTES", None)
    # Then no read failed (no "dictionary changed size", no KeyError), each saw a whole environment
    assert seen == []


def test_settings_are_immutable():
    with pytest.raises(FrozenInstanceError):
        Settings().store = "memory"  # type: ignore[misc]


def test_problem_details_shape():
    err = ValidationFailed.field("replicas", "too many")
    body = err.problem(instance="/v1/x", request_id="r1")
    assert body == {
        "type": "https://pilothouse.dev/problems/validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "replicas: too many",
        "instance": "/v1/x",
        "request_id": "r1",
        "errors": [{"field": "replicas", "message": "too many"}],
    }


def test_conflict_names_state_and_allowed_commands():
    body = IllegalTransition("stop", "Registered", ["deploy", "deregister"]).problem()
    assert body["status"] == 409 and body["state"] == "Registered"
    assert body["allowed_commands"] == ["deploy", "deregister"]


def test_429_carries_retry_after():
    assert TooManyRequests("slow down", retry_after=7).headers == {"Retry-After": "7"}


def test_schedule_scale_is_real_time_by_default_and_at_least_one():
    """Given no PILOTHOUSE_SCHEDULE_SCALE, the scale is 1; given 10 it is 10.0; given 0.5 or a
    word, the settings error names the variable."""
    assert Settings.from_environ({}).schedule_scale == 1.0
    assert Settings.from_environ({"PILOTHOUSE_SCHEDULE_SCALE": "10"}).schedule_scale == 10.0
    for bad in ("0.5", "fast"):
        with pytest.raises(ConfigurationError, match="PILOTHOUSE_SCHEDULE_SCALE"):
            Settings.from_environ({"PILOTHOUSE_SCHEDULE_SCALE": bad})
