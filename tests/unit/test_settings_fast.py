"""Settings from plain environment values are made without building pydantic's validator (a cold
start's tens of ms): they must be exactly what validation makes of the same values, and anything
else must still be validated, errors included."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from pilothouse.domain.ratelimits import DEFAULTS, Bucket, RateLimits, RateRule
from pilothouse.errors import ConfigurationError
from pilothouse.settings import PREFIX, Settings, _plain_fields

ENVIRONMENTS = [
    {},
    {"STORE": "sqlite", "DATA_DIR": "/tmp/ph-data", "QUEUE": "local"},
    {"STORE": "dynamodb", "TABLE_NAME": "pilothouse-prod", "QUEUE": "sqs", "BLOBS": "s3"},
    {"STORE": "memory", "QUEUE": "memory", "DATA_DIR": "", "PROJECT_DIR": "."},
    {"STORE_TRANSACTION_SCOPE": "partition"},
    {"STORE_TRANSACTION_SCOPE": "store", "ORCHESTRATOR": "stepfunctions", "SFN_TASK_TRANSPORT": "sqs"},
    {"RESPONSE_VALIDATION": "true", "CREATE_RESOURCES": "false", "OIDC_GATEWAY_AUTHORIZER": "true"},
    {"KMS_KEY_ID": "", "ADMIN_KEY": "ph_a_b", "MASTER_KEYS": "k1:AAAA", "KEY_FILE": "keys/m.json"},
    {"KEY_PROVIDER": "kms", "SECRET_BACKEND": "ssm", "AZURE_KEYVAULT_WRAP_ALGORITHM": "A256KW"},
    {"SFN_AUTH": "local", "SFN_LOCAL_ROLE": "viewer", "SFN_MOCK_CONFIG": "mock.json"},
    {"LOG_LEVEL": " debug ", "SERVICE_NAME": "ph\u00e9", "SFN_PREFIX": "stack-"},
    # undecodable bytes (os.environ keeps them as surrogates) and NULs, kept as they are
    {"TABLE_NAME": "a\udcffb", "DATA_DIR": "d\x00ir", "ADMIN_KEY": "\x00"},
    {"STORE": "sqlite\x00"},
    # what the plain path leaves to validation (values it must not guess)
    {"RESPONSE_VALIDATION": "yes"},
    {"RESPONSE_VALIDATION": "True"},
    {"RESPONSE_VALIDATION": "1"},
    {"RESPONSE_VALIDATION": "maybe"},
    {"STORE": "SQLITE"},
    {"STORE": "postgres"},
    {"STORE_TRANSACTION_SCOPE": "everything"},
    {"IDEMPOTENCY_TTL_SECONDS": "60"},
    {"IDEMPOTENCY_TTL_SECONDS": "0"},
    {"RATE_LIMITS": '{"enabled": false}'},
    {"RATE_LIMITS": ""},
    {"OIDC_ISSUERS": ""},
    {"OUTBOUND_ALLOW_HOSTS": "A.example.com, b.example.com"},
    {"SFN_REGION": "us-east-1"},
    {"CLOCK_SCALE": "10"},
    {"AZURE_KEYVAULT_URL": "https://vault.vault.azure.net/"},
    {"CONFIG_WEB__GREETING": "hi", "STORE": "memory"},
    {"STORE": "memory", "UNKNOWN_THING": "x"},
]


def _validated(environ: dict[str, str]) -> Settings | ConfigurationError:
    """What validation makes of ``environ`` (the path taken before the plain one existed)."""
    values = {k.lower(): v for k, v in environ.items() if k.lower() in Settings.model_fields}
    config = tuple(sorted((PREFIX + k, v) for k, v in environ.items() if k.startswith("CONFIG_")))
    if config:
        values["component_config_env"] = config  # type: ignore[assignment]
    try:
        return Settings.model_validate(values)
    except Exception as exc:  # noqa: BLE001 - compared below with what from_environ raises
        return ConfigurationError(str(type(exc)))


@pytest.mark.parametrize("environ", ENVIRONMENTS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_settings_from_the_environment_are_what_validation_makes(environ):
    expected = _validated(environ)
    full = {PREFIX + k: v for k, v in environ.items()}
    if isinstance(expected, ConfigurationError):
        with pytest.raises(ConfigurationError):
            Settings.from_environ(full)
        return
    got = Settings.from_environ(full)
    assert got == expected
    assert hash(got) == hash(expected)
    for name in Settings.model_fields:
        mine, theirs = getattr(got, name), getattr(expected, name)
        assert (mine, type(mine)) == (theirs, type(theirs)), name
    assert repr(got) == repr(expected)


def test_plain_values_build_no_validator(monkeypatch):
    """The cold start's environment (store, data dir, queue, a table name) never validates."""

    def validate(*args, **kwargs):
        raise AssertionError("validated")

    monkeypatch.setattr(Settings, "model_validate", validate)
    env = {"PILOTHOUSE_STORE": "sqlite", "PILOTHOUSE_DATA_DIR": "/d", "PILOTHOUSE_QUEUE": "local"}
    assert Settings.from_environ(env).data_dir == Path("/d")
    with pytest.raises(AssertionError):
        Settings.from_environ({**env, "PILOTHOUSE_IDEMPOTENCY_TTL_SECONDS": "5"})


def test_the_plain_fields_have_neither_constraints_nor_validators():
    plain = _plain_fields()
    assert {"store", "data_dir", "queue", "table_name", "response_validation"} <= set(plain)
    for name in ("idempotency_ttl_seconds", "sfn_region", "rate_limits", "oidc_issuers", "clock_scale"):
        assert name not in plain


def test_a_frozen_settings_made_plainly_stays_frozen():
    settings = Settings.from_environ({"PILOTHOUSE_STORE": "memory"})
    with pytest.raises(FrozenInstanceError):
        settings.store = "sqlite"  # type: ignore[misc]


def test_the_default_limits_are_what_validation_makes():
    # Field: the name the buckets' annotations use, resolved in the frame making the adapter
    from pydantic import Field, TypeAdapter  # noqa: F401

    assert Settings().rate_limits == RateLimits() == TypeAdapter(RateLimits).validate_python({})
    validated = {
        "reads": {"rate": 20, "burst": 200},
        "mutations": {"rate": 5, "burst": 60},
        "workflow_starts": {"rate": 2, "burst": 30},
        "webhooks": {"rate": 10, "burst": 100},
    }
    for cls, values in validated.items():
        made, bucket = DEFAULTS[cls], TypeAdapter(Bucket).validate_python(values)
        assert (made, repr(made), made.window) == (bucket, repr(bucket), bucket.window)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "RATE_LIMITS",
            "[1]",
            "PILOTHOUSE_RATE_LIMITS: Input should be a valid dictionary or instance of RateLimits",
        ),
        ("RATE_LIMITS", '{"rules": 3}', "PILOTHOUSE_RATE_LIMITS.RULES: Input should be a valid tuple"),
        ("RATE_LIMITS", "nope", "PILOTHOUSE_RATE_LIMITS: Value error, not JSON: Expecting value"),
        ("RATE_LIMITS", '{"zz": 1}', "PILOTHOUSE_RATE_LIMITS.ZZ: Extra inputs are not permitted"),
        (
            "RATE_LIMITS",
            '{"rules": [{"operation_class": "reads", "rate": 0, "burst": 1, "x": 2}]}',
            "PILOTHOUSE_RATE_LIMITS.RULES.0.RATE: Input should be greater than 0; "
            "PILOTHOUSE_RATE_LIMITS.RULES.0.X: Extra inputs are not permitted",
        ),
        (
            "RATE_LIMITS",
            '{"rules": [{"operation_class": "reads", "rate": 1}]}',
            ".RULES.0.BURST: Field required",
        ),
        ("STORE", "oracle", "PILOTHOUSE_STORE: Input should be 'sqlite', 'memory', 'dynamodb',"),
        (
            "IDEMPOTENCY_TTL_SECONDS",
            "0",
            "PILOTHOUSE_IDEMPOTENCY_TTL_SECONDS: Input should be greater than or",
        ),
        ("SFN_ACCOUNT", "12", "PILOTHOUSE_SFN_ACCOUNT: String should match pattern '^\\d{12}$'"),
        ("CONTROL_PORT", "0", "PILOTHOUSE_CONTROL_PORT: Input should be greater than or equal to 1"),
    ],
)
def test_invalid_settings_name_the_variable_in_pydantic_words(variable, value, message):
    """The settings and the rate limits are dataclasses that pydantic validates: a bad value's
    error names its variable with the words it had when they were pydantic models."""
    with pytest.raises(ConfigurationError) as info:
        Settings.from_environ({PREFIX + variable: value})
    assert message in info.value.detail


def test_rate_rules_from_the_environment_are_validated():
    rules = '{"rules": [{"operation_class": "reads", "role": "viewer", "rate": 2, "burst": 3}]}'
    limits = Settings.from_environ({PREFIX + "RATE_LIMITS": rules}).rate_limits
    assert limits == RateLimits(rules=(RateRule(operation_class="reads", role="viewer", rate=2.0, burst=3),))
    assert type(limits.rules[0].rate) is float
    assert limits.bucket("key:k", "viewer", "reads") == Bucket(rate=2.0, burst=3)
    assert limits.bucket("key:k", "admin", "reads") is DEFAULTS["reads"]
