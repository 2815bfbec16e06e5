"""Settings: one frozen dataclass read from an injected environ, validated once per cold start.

    >>> s = Settings.from_environ({"PILOTHOUSE_STORE": "memory"})
    >>> s.store
    'memory'

Every field maps to ``PILOTHOUSE_<FIELD>`` (upper case). Nothing here is read at import time;
:func:`get_settings` reads ``os.environ`` on first use and caches the result.

Validation is pydantic's, loaded only when a value needs it: the fields' annotations carry their
constraints and validators (``Annotated[int, Field(ge=1)]``) as text that only pydantic reads
(:func:`_adapter`), so importing this module, and an environment that sets only plain values (a
store, a queue, a data dir, a table name...; :func:`_plain_values`), load no pydantic at all, a
good part of a cold start. ``Settings(...)`` validates as before; errors are pydantic's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache, cached_property, lru_cache
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pilothouse.domain.ratelimits import RateLimits
from pilothouse.errors import ConfigurationError

if TYPE_CHECKING:
    from dataclasses import Field as DataclassField

    # the names of the fields' constraints and validators, read by pydantic only (see _adapter)
    from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationInfo

    from pilothouse.domain.identity import OidcIssuer
    from pilothouse.net.outbound import OutboundPolicy

PREFIX = "PILOTHOUSE_"


def _scaled_clock_is_embedded(value: float, info: ValidationInfo) -> float:
    """A scaled clock is for ``pilothouse dev``'s own state, never a cloud's (other functions
    would read its future timestamps on the wall clock), and one scale at a time."""
    if value == 1:
        return value
    data = info.data
    backends = (data.get("store"), data.get("queue"), data.get("orchestrator"))
    if (
        backends[0] not in ("sqlite", "memory")
        or backends[1] not in ("local", "memory")
        or backends[2] != "embedded"
    ):
        raise ValueError(
            "a scaled clock is for pilothouse dev on its own state: it needs the sqlite or memory "
            f"store, the local or memory queue and the embedded orchestrator, not {backends}"
        )
    if data.get("schedule_scale", 1.0) != 1:
        raise ValueError(
            "set PILOTHOUSE_CLOCK_SCALE or PILOTHOUSE_SCHEDULE_SCALE, not both (under a scaled "
            "clock the scheduler follows the clock)"
        )
    return value


def _vault_url(value: str | None) -> str | None:
    from pilothouse.net.keyvault import vault_origin

    return None if value is None else vault_origin(value)[0]


def _split_roots(value: object) -> object:
    if isinstance(value, str):
        return tuple(p for p in value.split(os.pathsep) if p.strip())
    return value


def _split_names(value: object) -> object:
    if isinstance(value, str):
        return tuple(n.strip() for n in value.split(",") if n.strip())
    return value


def _split_hosts(value: object) -> object:
    if isinstance(value, str):
        return tuple(h.strip().lower() for h in value.split(",") if h.strip())
    return value


def _parse_json(value: object, info: ValidationInfo) -> object:
    if isinstance(value, str):
        import json

        if not value.strip():
            return () if info.field_name == "oidc_issuers" else {}
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg}") from None
    return value


#: __init__, repr and eq are written below, not generated: the dataclass's would compile a
#: ~100-parameter function, a comparison and a format of ~100 fields at each cold start (ms)
@dataclass(frozen=True, kw_only=True, init=False, repr=False, eq=False)
class Settings:
    """What a function needs to know about its environment."""

    #: unknown fields are refused (pydantic reads this for a standard dataclass)
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    #: field name -> its dataclass field (``.default``), spelled as pydantic spells it (set below)
    model_fields: ClassVar[Mapping[str, DataclassField[Any]]]

    store: Literal["sqlite", "memory", "dynamodb", "azure-tables", "firestore"] = "sqlite"
    #: how wide a transaction the store accepts (``Store.transaction_scope``): each adapter's own
    #: capability when unset; ``partition`` makes SQLite, DynamoDB and the memory store refuse a
    #: transaction across partitions as Azure Tables does (the test suite sets it, so a service
    #: that regresses fails there rather than on Azure)
    store_transaction_scope: Literal["partition", "store"] | None = None
    queue: Literal["local", "memory", "sqs", "azure-queue", "pubsub"] = "local"
    blobs: Literal["local", "memory", "s3", "azure-blob", "gcs"] = "local"
    #: the S3 bucket of the s3 blobs adapter (the container of the azure-blob one, the bucket of gcs)
    bucket_name: str = "pilothouse-backups"
    #: KMS key (id, ARN or alias) that encrypts S3 blobs; SSE-S3 (AES256) when unset
    kms_key_id: str | None = None
    data_dir: Path = Path(".pilothouse")
    jobs_queue: str = "pilothouse-jobs"
    executions_queue: str = "pilothouse-executions"
    tasks_queue: str = "pilothouse-tasks"
    project_dir: Path = Path(".")
    #: create missing backend resources (table, bucket) on first use: `pilothouse dev` against an
    #: endpoint such as moto or LocalStack; deployed stacks get theirs from template.yaml
    create_resources: bool = False
    #: where workflows run: Pilothouse's durable engine, or AWS Step Functions
    orchestrator: Literal["embedded", "stepfunctions"] = "embedded"
    sfn_role_arn: str = "arn:aws:iam::000000000000:role/pilothouse-states"
    sfn_prefix: str = ""
    #: how Step Functions reaches Pilothouse's task functions: Lambda (deployed stacks), or messages on
    #: the task-messages queue answered with the task token (an endpoint that runs no Lambda code)
    sfn_task_transport: Literal["lambda", "sqs"] = "lambda"
    task_messages_queue: str = "pilothouse-task-messages"
    #: states an execution step runs at most before it persists (one conditional write of the
    #: record and the history the states produced): consecutive states due at once (Pass, Choice,
    #: Wait 0, a Map's inline iterations ...) share one transaction; a Task ends a step, as it
    #: is invoked only once the step that scheduled it is stored
    workflow_states_per_step: Annotated[int, Field(ge=1, le=1000)] = 32
    #: and about this many characters of state input and output at most (the step's history item
    #: stays well under a store item's size limit; a step always applies at least one state)
    workflow_step_text_chars: Annotated[int, Field(ge=1024, le=4 * 1024 * 1024)] = 64 * 1024
    table_name: str = "pilothouse"
    service_name: str = "pilothouse"
    log_level: str = "INFO"
    admin_key: str | None = field(default=None, repr=False)
    idempotency_ttl_seconds: Annotated[int, Field(ge=1)] = 3600
    audit_ttl_days: Annotated[int, Field(ge=1)] = 365
    provider_timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    #: check each HTTP answer against its endpoint's return annotation (Powertools' response
    #: validation) before it is sent; off in production (answers are built by our own code), on
    #: under the test suite (tests/conftest.py), where a wrong answer should fail loudly
    response_validation: bool = False
    #: more directories (besides the project and data dirs) a local component's ``target.cwd`` may
    #: lie under; os.pathsep-separated in the environment (``/srv/apps:/opt/tools``)
    local_cwd_roots: Annotated[tuple[Path, ...], BeforeValidator(_split_roots)] = ()
    #: names of more variables a local replica takes from the control plane's environment (comma-
    #: separated; e.g. SSL_CERT_FILE,HTTP_PROXY). Pilothouse's own settings are never passed on.
    replica_env_passthrough: Annotated[tuple[str, ...], BeforeValidator(_split_names)] = ()
    #: the port the control plane itself listens on (``pilothouse dev --port``): no spec may name it
    control_port: Annotated[int | None, Field(ge=1, le=65535)] = None
    #: outbound requests to spec-named URLs may reach loopback and private ranges (local components
    #: live on 127.0.0.1); set false for cloud deployments. Link-local and metadata addresses never.
    outbound_allow_private: bool = True
    #: when set, outbound requests go only to these hosts (``*.example.com`` for a domain's hosts);
    #: comma-separated in the environment
    outbound_allow_hosts: Annotated[tuple[str, ...], BeforeValidator(_split_hosts)] = ()
    #: functions this deployment adds (template.yaml) that user workflows' Tasks may call besides the
    #: public operations; invoked as they are, so they authorize their callers themselves. Never one
    #: of the control plane's internal task functions. Comma-separated in the environment
    workflow_task_functions: Annotated[tuple[str, ...], BeforeValidator(_split_names)] = ()
    #: the Step Functions-compatible endpoint of ``pilothouse dev`` (``POST /sfn``): the region and
    #: account its ARNs name (``arn:aws:states:<region>:<account>:stateMachine:<name>``)
    sfn_region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$|^local$")] = "us-east-1"
    sfn_account: Annotated[str, Field(pattern=r"^\d{12}$")] = "123456789012"
    #: how it authenticates: ``keys`` (a SigV4 signature made with an API key, the key as session
    #: token) or ``local`` (any well-formed SigV4 signature, accepted only while the dev server
    #: listens on loopback; the caller acts with ``sfn_local_role``)
    sfn_auth: Literal["keys", "local"] = "keys"
    sfn_local_role: Literal["viewer", "operator", "deployer", "admin"] = "deployer"
    #: a Step Functions Local mock configuration file (``SFN_MOCK_CONFIG`` is read too): executions
    #: started as ``<stateMachineArn>#<TestCase>`` answer their Task states from it
    sfn_mock_config: Path | None = None
    #: who wraps the data keys of envelope encryption (backups, secrets): a local keyring
    #: (``master_keys`` or the key file), AWS KMS (``envelope_kms_key_id``), an Azure Key Vault key
    #: (``azure_keyvault_url``, ``azure_keyvault_key_name``) or a Cloud KMS key (``gcp_kms_key_name``)
    key_provider: Literal["local", "kms", "keyvault", "gcpkms"] = "local"
    #: the local keyring's master keys, ``id:base64-32-bytes`` comma-separated (never logged);
    #: unset: the key file, created with mode 0600 on first use
    master_keys: str | None = field(default=None, repr=False)
    #: which of them wraps new data keys (default: the last listed, or the key file's current)
    master_key_id: str | None = None
    #: the local keyring's key file (default ``<data_dir>/keys/master.json``)
    key_file: Path | None = None
    #: the KMS key (id, ARN or alias) of ``key_provider=kms`` (default: ``kms_key_id``)
    envelope_kms_key_id: str | None = None
    #: backups (issue 12): the uncompressed JSON a chunk holds at most
    backup_chunk_bytes: Annotated[int, Field(ge=4096, le=256 * 1024 * 1024)] = 4 * 1024 * 1024
    #: the backup sweep (hourly) takes a backup when the newest is older than this (default: daily)
    backup_interval_seconds: Annotated[int, Field(ge=60)] = 86_400
    #: retention: the newest N, then the newest of each of the last days / ISO weeks / months
    backup_keep_last: Annotated[int, Field(ge=1)] = 7
    backup_keep_daily: Annotated[int, Field(ge=0)] = 7
    backup_keep_weekly: Annotated[int, Field(ge=0)] = 4
    backup_keep_monthly: Annotated[int, Field(ge=0)] = 6
    #: the recovery point objective: a newest backup older than this raises an event
    backup_rpo_seconds: Annotated[int, Field(ge=60)] = 2 * 86_400
    #: the drill sweep (daily) drills when the last drill is older than this (default: weekly)
    backup_drill_interval_seconds: Annotated[int, Field(ge=60)] = 7 * 86_400
    #: DynamoDB store: take backups from DynamoDB's point-in-time export (ExportTableToPointInTime
    #: into ``bucket_name``, under ``exports/<backup id>``; the table needs PITR) instead of a Scan:
    #: one point in time for the whole table, no read capacity used
    backup_dynamodb_export: bool = False
    #: install the default backup alert rules (a failed backup, a failed drill, a missed RPO) the
    #: first time a backup event is recorded (pilothouse.services.backup_alerts)
    backup_default_alerts: bool = True
    #: the ``PILOTHOUSE_CONFIG_<COMPONENT>__<KEY>`` variables: the strongest layer of the control
    #: plane's own components' config (issue 13), as (name, value) pairs
    component_config_env: tuple[tuple[str, str], ...] = ()
    #: config watches: how long a function instance trusts the config version it read (seconds)
    config_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 0.5
    #: config watches: the most long polls one process holds at once; one more answers 429 at
    #: once (with Retry-After). Below the embedded pool's 8 instances of a function, so waiting
    #: watches never take every instance (nor, queued behind them, every gateway thread)
    config_max_watchers: Annotated[int, Field(ge=1, le=1000)] = 4
    #: where secret values live (issue 13): the built-in encrypted store, AWS Secrets Manager or SSM,
    #: Azure Key Vault (``azure_keyvault_url``) or Google Secret Manager (``gcp_project``)
    secret_backend: Literal["builtin", "secretsmanager", "ssm", "keyvault", "gcp-secret-manager"] = "builtin"
    #: the name prefix of secrets in Secrets Manager / parameters in SSM
    secrets_prefix: str = "/pilothouse/secrets/"
    #: how long a secret's superseded version stays available for rollback (default: 7 days)
    secret_retention_seconds: Annotated[int, Field(ge=0)] = 7 * 86_400
    #: the queue notification deliveries run from
    notifications_queue: str = "pilothouse-notifications"
    #: hosts in private ranges notification channels may reach anyway (exact names or literals, or
    #: ``*.corp.example``); comma-separated in the environment. Link-local and metadata never
    notifications_private_hosts: Annotated[tuple[str, ...], BeforeValidator(_split_hosts)] = ()
    #: attempts of a notification delivery before it is dead-lettered, and the first retry's delay
    #: (each next one doubles, with jitter, up to 900 s)
    notifications_max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    notifications_retry_base_seconds: Annotated[float, Field(gt=0, le=900)] = 10.0
    #: the health sweep's queue: one message per batch of components to check
    health_queue: str = "pilothouse-health"
    #: components per health-queue message (a consumer checks a batch within its minute)
    health_batch_size: Annotated[int, Field(ge=1, le=1000)] = 50
    #: hosts a workflow's HTTP task (``arn:aws:states:::http:invoke``) may call by a plain URL
    #: (``*.example.com`` for a domain's hosts; comma-separated in the environment); empty: only
    #: ``component://<name>/<path>`` endpoints. The outbound guard applies to both.
    http_task_allow_hosts: Annotated[tuple[str, ...], BeforeValidator(_split_hosts)] = ()
    #: how long an HTTP task waits for its answer, and how much of the answer it keeps
    http_task_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    http_task_max_body_bytes: Annotated[int, Field(ge=1024, le=4_194_304)] = 262_144
    #: how long a system's rollout waits between two looks at its members
    system_poll_seconds: Annotated[int, Field(ge=1, le=300)] = 2
    #: trusted OpenID Connect issuers whose bearer tokens authenticate callers (a JSON list of
    #: objects: issuer, audience, algorithms, clock_skew_seconds, role_claim, roles, approvers...;
    #: see ``pilothouse.domain.identity.OidcIssuer``)
    oidc_issuers: Annotated[tuple[OidcIssuer, ...], BeforeValidator(_parse_json)] = ()
    #: API Gateway's JWT authorizer checks tokens before the function runs (template.yaml's optional
    #: authorizer): trust the claims it puts in the request context. Only when that authorizer is
    #: configured; everywhere else the function verifies the token itself
    oidc_gateway_authorizer: bool = False
    #: how long a workflow started (or redriven) by an OIDC user may act for them: its tasks call
    #: the public operations with the role that user held at the start, for this long at most
    oidc_workflow_grant_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] = 43_200
    #: token buckets per principal and operation class (reads, mutations, workflow_starts,
    #: webhooks), JSON: ``{"enabled": true, "rules": [{"operation_class": "mutations", "role":
    #: "viewer", "rate": 1, "burst": 10}, {"operation_class": "reads", "principal": "key:ab12",
    #: "rate": 100, "burst": 1000}]}``; see ``pilothouse.domain.ratelimits``
    rate_limits: Annotated[RateLimits, BeforeValidator(_parse_json)] = RateLimits()
    #: the embedded scheduler's time scale (``pilothouse dev``): ``rate(...)`` schedules fire this
    #: many times as often (10: the minute sweeps every 6 s), and the health sweep's period (how
    #: long a sweep's batches are worth checking) shrinks with them. For tests and demos that should
    #: not wait real minutes; 1 (real time) everywhere else. Cron schedules, the metric store's
    #: minutes, autoscaling windows and cooldowns and alert periods are not scaled: they are
    #: settings of each policy or rule (``clock_scale`` scales them all)
    schedule_scale: Annotated[float, Field(ge=1.0, le=600.0)] = 1.0
    #: ``pilothouse dev`` only: its control plane's clock runs this many times as fast as the wall
    #: clock from its start (10: a minute every 6 s), and everything that stamps or judges time
    #: reads it: metric minutes and the router's samples, rollups, alert windows, autoscaling
    #: windows and cooldowns, the scheduler (the minute sweeps every 6 s; cron on this clock), Wait
    #: states, TTLs. What measures real work stays real (leases and visibility timeouts count real
    #: seconds; process, probe and HTTP timeouts), and so do signature timestamps and token expiry.
    #: The clock's reading is kept in ``<data-dir>/clock.json``, so it never runs backwards over a
    #: restart: a data dir that ran scaled keeps its lead over the wall clock when started again
    #: without it (see ``pilothouse.embedded.dev_clock``). Only with the embedded store, queue and
    #: engine (sqlite or memory, local or memory, embedded), never with ``schedule_scale``
    clock_scale: Annotated[float, Field(ge=1.0, le=600.0), AfterValidator(_scaled_clock_is_embedded)] = 1.0
    #: Azure (store azure-tables, queue azure-queue, blobs azure-blob): the storage account reached
    #: with a managed identity (DefaultAzureCredential) when ``AZURE_STORAGE_CONNECTION_STRING`` is
    #: not set; its endpoints are ``https://<account>.{table,queue,blob}.core.windows.net``
    azure_storage_account: Annotated[str | None, Field(pattern=r"^[a-z0-9]{3,24}$")] = None
    #: the Table API endpoint when it is not the storage account's (Cosmos DB for Table:
    #: ``https://<account>.table.cosmos.azure.com``)
    azure_table_endpoint: str | None = None
    #: the encryption scope every Azure blob is written with (one backed by a customer-managed key
    #: in Key Vault: infra/azure); unset: the account's default encryption
    azure_blob_encryption_scope: str | None = None
    #: a customer-provided key (base64 of 32 bytes) for Azure blobs instead of a scope (never logged)
    azure_blob_customer_key: str | None = field(default=None, repr=False)
    #: Google Cloud (store=firestore, queue=pubsub, blobs=gcs): the project (default: the SDK's,
    #: ``GOOGLE_CLOUD_PROJECT`` or the credentials'), the Firestore database (default ``(default)``)
    #: and collection, the Cloud Storage bucket (``bucket_name``) and its Cloud KMS key (CMEK; unset:
    #: Google-managed keys). Emulators: FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST,
    #: STORAGE_EMULATOR_HOST (the SDKs' own variables)
    gcp_project: str | None = None
    firestore_database: str | None = None
    firestore_collection: str = "pilothouse"
    gcs_kms_key_name: str | None = None
    #: Azure Key Vault (secret_backend=keyvault, key_provider=keyvault): the vault
    #: (``https://<vault>.vault.azure.net``), reached with a managed identity (DefaultAzureCredential)
    azure_keyvault_url: Annotated[str | None, AfterValidator(_vault_url)] = None
    #: the Key Vault key that wraps data keys, a pinned version of it (unset: its current version,
    #: re-read every few minutes) and the wrap algorithm (A256KW needs a Managed HSM oct-HSM key)
    azure_keyvault_key_name: Annotated[str | None, Field(pattern=r"^[0-9A-Za-z-]{1,127}$")] = None
    azure_keyvault_key_version: Annotated[str | None, Field(pattern=r"^[0-9A-Za-z]{1,64}$")] = None
    azure_keyvault_wrap_algorithm: Literal["RSA-OAEP-256", "A256KW"] = "RSA-OAEP-256"
    #: the name prefix of secrets in Key Vault and Secret Manager (letters, digits, dashes)
    cloud_secrets_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{0,60}$")] = "pilothouse-"
    #: Cloud KMS (key_provider=gcpkms): the crypto key that wraps data keys,
    #: ``projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>``
    gcp_kms_key_name: Annotated[
        str | None,
        Field(
            pattern=r"^projects/[A-Za-z0-9_-]{1,63}/locations/[A-Za-z0-9_-]{1,63}/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$"
        ),
    ] = None

    def __repr__(self) -> str:
        """As a dataclass's, without the fields kept out of it (secrets)."""
        shown = (f"{f.name}={getattr(self, f.name)!r}" for f in self.model_fields.values() if f.repr)
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.field_values() == other.field_values()

    def field_values(self) -> tuple[Any, ...]:
        """The fields' values, in their order."""
        return tuple(getattr(self, name) for name in self.model_fields)

    def __hash__(self) -> int:
        # the services of a process are looked up by their settings on every request: hash the
        # ~35 fields once (they are frozen), not at each lookup
        return self.fields_hash

    @cached_property
    def fields_hash(self) -> int:
        """The hash of the fields' values (what equality compares), computed once."""
        return hash(self.field_values())

    def __init__(self, **values: Any) -> None:
        """Settings from field values (the others at their defaults), validated and coerced by
        pydantic as the model was: a bad or unknown value raises pydantic's ValidationError."""
        made = type(self).model_validate(values)
        for name in self.model_fields:
            object.__setattr__(self, name, getattr(made, name))

    @classmethod
    def model_validate(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from ``values`` (field name -> value or text), validated by pydantic (which
        makes the instance itself, without calling ``__init__``)."""
        return _adapter().validate_python(values)

    @classmethod
    def model_construct(cls, **values: Any) -> Settings:
        """Settings from values already valid (the others at their defaults), without validation."""
        self = object.__new__(cls)
        for name, f in cls.model_fields.items():
            object.__setattr__(self, name, values.get(name, f.default))
        return self

    def model_copy(self, *, update: Mapping[str, Any]) -> Settings:
        """These settings with ``update`` applied (validated)."""
        return replace(self, **update)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``PILOTHOUSE_*`` variables; raise ConfigurationError naming bad ones."""
        values: dict[str, Any] = {
            key[len(PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.startswith(PREFIX) and key[len(PREFIX) :].lower() in cls.model_fields
        }
        config_env = tuple(sorted((k, v) for k, v in environ.items() if k.startswith(f"{PREFIX}CONFIG_")))
        if config_env:
            values["component_config_env"] = config_env
        plain = _plain_values(values)
        if plain is not None:  # what validation would give, without loading pydantic
            return cls.model_construct(**plain)
        from pydantic import ValidationError

        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {_message(e)}" for e in exc.errors()
            )
            raise ConfigurationError(f"invalid settings: {problems}") from exc

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def key_file_path(self) -> Path:
        """The local keyring's key file."""
        return self.key_file or self.data_dir / "keys" / "master.json"

    @cached_property
    def cwd_roots(self) -> tuple[Path, ...]:
        """Where a local component may run: the project dir, the data dir and ``local_cwd_roots``,
        each made absolute with symlinks resolved (once per settings: every registration asks, and
        resolving costs a system call per path component; a check against them resolves them
        again, see ``providers.local.launch.confine_cwd``)."""
        roots = (self.project_dir, self.data_dir, *self.local_cwd_roots)
        return tuple(Path(p).expanduser().resolve() for p in roots)

    def outbound_policy(self) -> OutboundPolicy:
        """The outbound guard's policy for spec-named URLs (DESIGN §9)."""
        from pilothouse.net.outbound import OutboundPolicy

        return OutboundPolicy(
            allow_private=self.outbound_allow_private, allow_hosts=self.outbound_allow_hosts
        )


#: the text a bool setting takes on the plain path (any other spelling is validated)
_BOOLS = {"true": True, "false": False}


Settings.model_fields = MappingProxyType({f.name: f for f in fields(Settings)})


@lru_cache(maxsize=1)
def _adapter() -> TypeAdapter[Settings]:
    """Pydantic's validator of Settings, built on first use.

    The fields' annotations are text naming pydantic's ``Field``, ``BeforeValidator`` and
    ``AfterValidator`` and the domain's ``OidcIssuer``, which this module imports for type checkers
    only: pydantic resolves names a type's module lacks in the namespace of the frame that makes
    the adapter (``TypeAdapter``'s parent frame), this function's, where they are imported.
    """
    from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter  # noqa: F401

    from pilothouse.domain.identity import OidcIssuer  # noqa: F401

    return TypeAdapter(Settings)


def _message(error: Any) -> str:
    """A validation error's message, worded as for a pydantic model: the rate limits and their
    rules, now dataclasses, were models, and their errors keep the words they had."""
    if error["type"] == "unexpected_keyword_argument":
        return "Extra inputs are not permitted"
    if error["type"] == "dataclass_type":
        return f"Input should be a valid dictionary or instance of {error['ctx']['class_name']}"
    return str(error["msg"])


#: the text a bool setting takes on the plain path (any other spelling is validated)
_BOOLS = {"true": True, "false": False}


@cache
def _plain_kind(name: str) -> Any:
    """How the text of field ``name`` becomes its value when validation would keep it as the text
    itself (``str``), make a Path of it (``Path``), accept only one of its Literal's words (their
    frozenset) or ``true``/``false`` (``bool``); None: not plain (a constraint, a validator of
    ours, another type), or no such field.

    The annotation is evaluated here without pydantic: one that names a constraint or a validator
    (``Field``, ``BeforeValidator``...) or a model imported for type checkers only does not
    evaluate, and is not plain. Only the fields an environment sets are looked at.
    """
    f = Settings.model_fields.get(name)
    if f is None:
        return None
    try:
        annotation = eval(f.type, vars(sys.modules[__name__])) if isinstance(f.type, str) else f.type  # noqa: S307
    except NameError:
        return None
    kinds = [annotation]
    if get_origin(annotation) in (Union, UnionType):  # X | None: X, as None has no text
        kinds = [a for a in get_args(annotation) if a is not type(None)]
    if len(kinds) == 1:
        kind = kinds[0]
        if kind in (str, Path, bool):
            return kind
        if get_origin(kind) is Literal and all(isinstance(w, str) for w in get_args(kind)):
            return frozenset(get_args(kind))
    return None


def _plain_fields() -> dict[str, Any]:
    """Every plain field and its kind (:func:`_plain_kind`)."""
    return {name: kind for name in Settings.model_fields if (kind := _plain_kind(name)) is not None}


def _plain_values(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """``values`` (text from the environment) as validation would make them, when every one is of a
    plain field (:func:`_plain_kind`) and in its plain form; None: validate them.

    A cold start then loads no pydantic (tens of ms, and its validator's schemas); what it leaves to
    validation (numbers, lists, JSON, a word a Literal does not know, ``yes`` for a bool...) is
    validated as before, errors included. tests/unit/test_settings_fast.py compares both paths.
    """
    out: dict[str, Any] = {}
    for name, text in values.items():
        kind = _plain_kind(name)
        if kind is None or not isinstance(text, str):
            return None
        if kind is str:
            out[name] = text
        elif kind is Path:
            out[name] = Path(text)
        elif kind is bool:
            if text not in _BOOLS:
                return None
            out[name] = _BOOLS[text]
        elif text in kind:
            out[name] = text
        else:
            return None
    return out


@lru_cache(maxsize=8)
def _cached(items: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_environ(dict(items))


@lru_cache(maxsize=8)
def _cached_raw(items: tuple[tuple[Any, Any], ...]) -> Settings:
    return _cached(tuple((os.fsdecode(k), os.fsdecode(v)) for k, v in items))


def _os_environ_items() -> tuple[tuple[Any, Any], ...] | None:
    """The ``PILOTHOUSE_*`` entries of ``os.environ`` as it stores them (bytes on POSIX, upper-cased
    text on Windows), sorted; None where ``os.environ`` keeps no such store.

    This is the cheap fingerprint of the process's environment: it reads the mapping's own store,
    without decoding every variable as iterating ``os.environ`` does (that cost ~30 µs a call), and
    looks for the ``PILOTHOUSE_*`` names among all others only when a name was set or unset since
    the last call (that test cost ~8 µs a call; the tuple of names compared is ~1 µs).
    """
    data = getattr(os.environ, "_data", None)
    if not isinstance(data, dict):
        return None
    global _names
    keys = tuple(data)  # one atomic snapshot (as os.environ's own iteration takes): another thread
    # may set or unset a variable meanwhile
    names = _names
    if names is None or names[0] != keys:  # a variable set or unset since: find the names again
        prefix: Any = PREFIX.encode() if os.name != "nt" else PREFIX
        try:
            names = _names = (keys, tuple(sorted(k for k in keys if k.startswith(prefix))))
        except TypeError:  # keys not of the type expected
            return None
    return tuple([(k, v) for k in names[1] if (v := data.get(k)) is not None])


#: the names in ``os.environ``'s store when last looked at, and the ``PILOTHOUSE_*`` ones among
#: them, sorted: while the names are the same (one tuple comparison), only those are read again
_names: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for this process, validated once per distinct environment (once per cold start).

    Every call sees the environment as it is now (a test that sets a variable gets settings with
    it): the cache is keyed by the ``PILOTHOUSE_*`` variables themselves.
    """
    if environ is None or environ is os.environ:
        raw = _os_environ_items()
        if raw is not None:
            return _cached_raw(raw)
        environ = os.environ
    return _cached(tuple(sorted((k, v) for k, v in environ.items() if k.startswith(PREFIX))))
