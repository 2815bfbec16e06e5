"""Settings: one pydantic model read from an injected environ, validated once per cold start.

    >>> s = Settings.from_environ({"PILOTHOUSE_STORE": "memory"})
    >>> s.store
    'memory'

Every field maps to ``PILOTHOUSE_<FIELD>`` (upper case). Nothing here is read at import time;
:func:`get_settings` reads ``os.environ`` on first use and caches the result. An environment that
sets only plain values (a store, a queue, a data dir, a table name...) is taken as validation would
take it without building the model's validator, a good part of a cold start (:func:`_plain_values`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from pilothouse.domain.identity import OidcIssuer
from pilothouse.domain.ratelimits import RateLimits
from pilothouse.errors import ConfigurationError

if TYPE_CHECKING:
    from pilothouse.net.outbound import OutboundPolicy

PREFIX = "PILOTHOUSE_"


class Settings(BaseModel):
    """What a function needs to know about its environment."""

    #: the validator is built on first validation: a cold start whose environment sets only plain
    #: values never builds it (see :func:`_plain_values`)
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

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
    workflow_states_per_step: int = Field(default=32, ge=1, le=1000)
    #: and about this many characters of state input and output at most (the step's history item
    #: stays well under a store item's size limit; a step always applies at least one state)
    workflow_step_text_chars: int = Field(default=64 * 1024, ge=1024, le=4 * 1024 * 1024)
    table_name: str = "pilothouse"
    service_name: str = "pilothouse"
    log_level: str = "INFO"
    admin_key: str | None = Field(default=None, repr=False)
    idempotency_ttl_seconds: int = Field(default=3600, ge=1)
    audit_ttl_days: int = Field(default=365, ge=1)
    provider_timeout_seconds: float = Field(default=60.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: check each HTTP answer against its endpoint's return annotation (Powertools' response
    #: validation) before it is sent; off in production (answers are built by our own code), on
    #: under the test suite (tests/conftest.py), where a wrong answer should fail loudly
    response_validation: bool = False
    #: more directories (besides the project and data dirs) a local component's ``target.cwd`` may
    #: lie under; os.pathsep-separated in the environment (``/srv/apps:/opt/tools``)
    local_cwd_roots: tuple[Path, ...] = ()
    #: names of more variables a local replica takes from the control plane's environment (comma-
    #: separated; e.g. SSL_CERT_FILE,HTTP_PROXY). Pilothouse's own settings are never passed on.
    replica_env_passthrough: tuple[str, ...] = ()
    #: the port the control plane itself listens on (``pilothouse dev --port``): no spec may name it
    control_port: int | None = Field(default=None, ge=1, le=65535)
    #: outbound requests to spec-named URLs may reach loopback and private ranges (local components
    #: live on 127.0.0.1); set false for cloud deployments. Link-local and metadata addresses never.
    outbound_allow_private: bool = True
    #: when set, outbound requests go only to these hosts (``*.example.com`` for a domain's hosts);
    #: comma-separated in the environment
    outbound_allow_hosts: tuple[str, ...] = ()
    #: functions this deployment adds (template.yaml) that user workflows' Tasks may call besides the
    #: public operations; invoked as they are, so they authorize their callers themselves. Never one
    #: of the control plane's internal task functions. Comma-separated in the environment
    workflow_task_functions: tuple[str, ...] = ()
    #: the Step Functions-compatible endpoint of ``pilothouse dev`` (``POST /sfn``): the region and
    #: account its ARNs name (``arn:aws:states:<region>:<account>:stateMachine:<name>``)
    sfn_region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$|^local$")
    sfn_account: str = Field(default="123456789012", pattern=r"^\d{12}$")
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
    master_keys: str | None = Field(default=None, repr=False)
    #: which of them wraps new data keys (default: the last listed, or the key file's current)
    master_key_id: str | None = None
    #: the local keyring's key file (default ``<data_dir>/keys/master.json``)
    key_file: Path | None = None
    #: the KMS key (id, ARN or alias) of ``key_provider=kms`` (default: ``kms_key_id``)
    envelope_kms_key_id: str | None = None
    #: backups (issue 12): the uncompressed JSON a chunk holds at most
    backup_chunk_bytes: int = Field(default=4 * 1024 * 1024, ge=4096, le=256 * 1024 * 1024)
    #: the backup sweep (hourly) takes a backup when the newest is older than this (default: daily)
    backup_interval_seconds: int = Field(default=86_400, ge=60)
    #: retention: the newest N, then the newest of each of the last days / ISO weeks / months
    backup_keep_last: int = Field(default=7, ge=1)
    backup_keep_daily: int = Field(default=7, ge=0)
    backup_keep_weekly: int = Field(default=4, ge=0)
    backup_keep_monthly: int = Field(default=6, ge=0)
    #: the recovery point objective: a newest backup older than this raises an event
    backup_rpo_seconds: int = Field(default=2 * 86_400, ge=60)
    #: the drill sweep (daily) drills when the last drill is older than this (default: weekly)
    backup_drill_interval_seconds: int = Field(default=7 * 86_400, ge=60)
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
    config_cache_seconds: float = Field(default=0.5, ge=0, le=60)
    #: config watches: the most long polls one process holds at once; one more answers 429 at
    #: once (with Retry-After). Below the embedded pool's 8 instances of a function, so waiting
    #: watches never take every instance (nor, queued behind them, every gateway thread)
    config_max_watchers: int = Field(default=4, ge=1, le=1000)
    #: where secret values live (issue 13): the built-in encrypted store, AWS Secrets Manager or SSM,
    #: Azure Key Vault (``azure_keyvault_url``) or Google Secret Manager (``gcp_project``)
    secret_backend: Literal["builtin", "secretsmanager", "ssm", "keyvault", "gcp-secret-manager"] = "builtin"
    #: the name prefix of secrets in Secrets Manager / parameters in SSM
    secrets_prefix: str = "/pilothouse/secrets/"
    #: how long a secret's superseded version stays available for rollback (default: 7 days)
    secret_retention_seconds: int = Field(default=7 * 86_400, ge=0)
    #: the queue notification deliveries run from
    notifications_queue: str = "pilothouse-notifications"
    #: hosts in private ranges notification channels may reach anyway (exact names or literals, or
    #: ``*.corp.example``); comma-separated in the environment. Link-local and metadata never
    notifications_private_hosts: tuple[str, ...] = ()
    #: attempts of a notification delivery before it is dead-lettered, and the first retry's delay
    #: (each next one doubles, with jitter, up to 900 s)
    notifications_max_attempts: int = Field(default=6, ge=1, le=20)
    notifications_retry_base_seconds: float = Field(default=10.0, gt=0, le=900)
    #: the health sweep's queue: one message per batch of components to check
    health_queue: str = "pilothouse-health"
    #: components per health-queue message (a consumer checks a batch within its minute)
    health_batch_size: int = Field(default=50, ge=1, le=1000)
    #: hosts a workflow's HTTP task (``arn:aws:states:::http:invoke``) may call by a plain URL
    #: (``*.example.com`` for a domain's hosts; comma-separated in the environment); empty: only
    #: ``component://<name>/<path>`` endpoints. The outbound guard applies to both.
    http_task_allow_hosts: tuple[str, ...] = ()
    #: how long an HTTP task waits for its answer, and how much of the answer it keeps
    http_task_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    http_task_max_body_bytes: int = Field(default=262_144, ge=1024, le=4_194_304)
    #: how long a system's rollout waits between two looks at its members
    system_poll_seconds: int = Field(default=2, ge=1, le=300)
    #: trusted OpenID Connect issuers whose bearer tokens authenticate callers (a JSON list of
    #: objects: issuer, audience, algorithms, clock_skew_seconds, role_claim, roles, approvers...;
    #: see ``pilothouse.domain.identity.OidcIssuer``)
    oidc_issuers: tuple[OidcIssuer, ...] = ()
    #: API Gateway's JWT authorizer checks tokens before the function runs (template.yaml's optional
    #: authorizer): trust the claims it puts in the request context. Only when that authorizer is
    #: configured; everywhere else the function verifies the token itself
    oidc_gateway_authorizer: bool = False
    #: how long a workflow started (or redriven) by an OIDC user may act for them: its tasks call
    #: the public operations with the role that user held at the start, for this long at most
    oidc_workflow_grant_seconds: int = Field(default=43_200, ge=60, le=30 * 86_400)
    #: token buckets per principal and operation class (reads, mutations, workflow_starts,
    #: webhooks), JSON: ``{"enabled": true, "rules": [{"operation_class": "mutations", "role":
    #: "viewer", "rate": 1, "burst": 10}, {"operation_class": "reads", "principal": "key:ab12",
    #: "rate": 100, "burst": 1000}]}``; see ``pilothouse.domain.ratelimits``
    rate_limits: RateLimits = RateLimits.model_construct()  # RateLimits(), its validator unbuilt
    #: the embedded scheduler's time scale (``pilothouse dev``): ``rate(...)`` schedules fire this
    #: many times as often (10: the minute sweeps every 6 s), and the health sweep's period (how
    #: long a sweep's batches are worth checking) shrinks with them. For tests and demos that should
    #: not wait real minutes; 1 (real time) everywhere else. Cron schedules, the metric store's
    #: minutes, autoscaling windows and cooldowns and alert periods are not scaled: they are
    #: settings of each policy or rule (``clock_scale`` scales them all)
    schedule_scale: float = Field(default=1.0, ge=1.0, le=600.0)
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
    clock_scale: float = Field(default=1.0, ge=1.0, le=600.0)
    #: Azure (store azure-tables, queue azure-queue, blobs azure-blob): the storage account reached
    #: with a managed identity (DefaultAzureCredential) when ``AZURE_STORAGE_CONNECTION_STRING`` is
    #: not set; its endpoints are ``https://<account>.{table,queue,blob}.core.windows.net``
    azure_storage_account: str | None = Field(default=None, pattern=r"^[a-z0-9]{3,24}$")
    #: the Table API endpoint when it is not the storage account's (Cosmos DB for Table:
    #: ``https://<account>.table.cosmos.azure.com``)
    azure_table_endpoint: str | None = None
    #: the encryption scope every Azure blob is written with (one backed by a customer-managed key
    #: in Key Vault: infra/azure); unset: the account's default encryption
    azure_blob_encryption_scope: str | None = None
    #: a customer-provided key (base64 of 32 bytes) for Azure blobs instead of a scope (never logged)
    azure_blob_customer_key: str | None = Field(default=None, repr=False)
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
    azure_keyvault_url: str | None = None
    #: the Key Vault key that wraps data keys, a pinned version of it (unset: its current version,
    #: re-read every few minutes) and the wrap algorithm (A256KW needs a Managed HSM oct-HSM key)
    azure_keyvault_key_name: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{1,127}$")
    azure_keyvault_key_version: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{1,64}$")
    azure_keyvault_wrap_algorithm: Literal["RSA-OAEP-256", "A256KW"] = "RSA-OAEP-256"
    #: the name prefix of secrets in Key Vault and Secret Manager (letters, digits, dashes)
    cloud_secrets_prefix: str = Field(default="pilothouse-", pattern=r"^[A-Za-z0-9-]{0,60}$")
    #: Cloud KMS (key_provider=gcpkms): the crypto key that wraps data keys,
    #: ``projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>``
    gcp_kms_key_name: str | None = Field(
        default=None,
        pattern=r"^projects/[A-Za-z0-9_-]{1,63}/locations/[A-Za-z0-9_-]{1,63}/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$",
    )

    @field_validator("clock_scale")
    @classmethod
    def _scaled_clock_is_embedded(cls, value: float, info: ValidationInfo) -> float:
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

    @field_validator("azure_keyvault_url")
    @classmethod
    def _vault_url(cls, value: str | None) -> str | None:
        from pilothouse.net.keyvault import vault_origin

        return None if value is None else vault_origin(value)[0]

    @field_validator("local_cwd_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p for p in value.split(os.pathsep) if p.strip())
        return value

    @field_validator("replica_env_passthrough", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(n.strip() for n in value.split(",") if n.strip())
        return value

    @field_validator("outbound_allow_hosts", "notifications_private_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("http_task_allow_hosts", mode="before")
    @classmethod
    def _split_http_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("workflow_task_functions", mode="before")
    @classmethod
    def _split_functions(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(f.strip() for f in value.split(",") if f.strip())
        return value

    @field_validator("oidc_issuers", "rate_limits", mode="before")
    @classmethod
    def _parse_json(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            import json

            if not value.strip():
                return () if info.field_name == "oidc_issuers" else {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc.msg}") from None
        return value

    def __hash__(self) -> int:
        # the services of a process are looked up by their settings on every request: hash the
        # ~35 fields once (they are frozen), not at each lookup
        return self.fields_hash

    @cached_property
    def fields_hash(self) -> int:
        """The hash of the fields' values (what equality compares), computed once."""
        return hash(tuple(getattr(self, name) for name in type(self).model_fields))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``PILOTHOUSE_*`` variables; raise ConfigurationError naming bad ones."""
        values = {
            key[len(PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.startswith(PREFIX) and key[len(PREFIX) :].lower() in cls.model_fields
        }
        config_env = tuple(sorted((k, v) for k, v in environ.items() if k.startswith(f"{PREFIX}CONFIG_")))
        if config_env:
            values["component_config_env"] = config_env  # type: ignore[assignment]
        plain = _plain_values(cls, values)
        if plain is not None:  # what validation would give, without building the validator
            return cls.model_construct(**plain)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
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


@lru_cache(maxsize=1)
def _plain_fields(cls: type[Settings]) -> dict[str, Any]:
    """The fields whose value from the environment validation would keep as the text itself, make a
    Path of, or accept only as one of its Literal's words (or ``true``/``false`` for a bool): no
    constraint, no validator of ours. Each maps to how its text becomes the value."""
    checked: set[str] = set()
    for decorator in cls.__pydantic_decorators__.field_validators.values():
        checked.update(decorator.info.fields)
    plain: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name in checked or field.metadata:
            continue
        kinds = [field.annotation]
        if get_origin(field.annotation) in (Union, UnionType):  # X | None: X, as None has no text
            kinds = [a for a in get_args(field.annotation) if a is not type(None)]
        if len(kinds) == 1:
            kind = kinds[0]
            if kind in (str, Path, bool):
                plain[name] = kind
            elif get_origin(kind) is Literal and all(isinstance(w, str) for w in get_args(kind)):
                plain[name] = frozenset(get_args(kind))
    return plain


def _plain_values(cls: type[Settings], values: Mapping[str, str]) -> dict[str, Any] | None:
    """``values`` (text from the environment) as validation would make them, when every one is of a
    plain field (:func:`_plain_fields`) and in its plain form; None: validate them.

    A cold start then builds no validator (tens of ms: the models' schemas); what it leaves to
    validation (numbers, lists, JSON, a word a Literal does not know, ``yes`` for a bool...) is
    validated as before, errors included. tests/unit/test_settings_fast.py compares both paths.
    """
    fields = _plain_fields(cls)
    out: dict[str, Any] = {}
    for name, text in values.items():
        kind = fields.get(name)
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
