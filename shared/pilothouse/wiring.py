"""The one factory that names adapters: settings in, :class:`Services` out, cached per settings.

>>> from pilothouse.settings import Settings
>>> services = build_services(Settings(store="memory", queue="memory"))
>>> type(services.store).__name__
'MemoryStore'
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilothouse.clock import SystemClock, wall_time
from pilothouse.settings import Settings, get_settings

if TYPE_CHECKING:
    from pilothouse.domain.security import Permission, Principal
    from pilothouse.identity.oidc import OidcVerifier
    from pilothouse.ports import Blobs, Clock, Invoker, Orchestrator, Provider, Queue, Store
    from pilothouse.ports.keys import KeyWrapper
    from pilothouse.ports.secrets import SecretBackend
    from pilothouse.services.context import ServiceContext
    from pilothouse.services.execution_listeners import ExecutionListeners

    def _implements(services: Services) -> ServiceContext:  # checked by type checkers only
        return services


__all__ = [
    "ServiceHooks",
    "Services",
    "build_services",
    "get_services",
    "register_services",
    "request_hooks",
    "reset_services",
]

_PORTS = ("store", "queue", "blobs", "orchestrator", "invoker", "listeners", "master_keys")


class Services:
    """The ports a service function needs (a :class:`~pilothouse.services.context.ServiceContext`),
    built lazily from settings so cold starts pay only for what they use.

    Any port can be given instead of built (tests, the dev server), and so can providers by name:

    >>> from pilothouse.settings import Settings
    >>> class Fake:
    ...     name = "local"
    >>> services = Services(Settings(store="memory"), providers={"local": Fake()})
    >>> type(services.provider("local")).__name__
    'Fake'
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        store: Store | None = None,
        queue: Queue | None = None,
        blobs: Blobs | None = None,
        orchestrator: Orchestrator | None = None,
        invoker: Invoker | None = None,
        listeners: ExecutionListeners | None = None,
        providers: dict[str, Provider] | None = None,
        master_keys: KeyWrapper | None = None,
        secrets: SecretBackend | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        given = {
            "store": store,
            "queue": queue,
            "blobs": blobs,
            "orchestrator": orchestrator,
            "invoker": invoker,
            "listeners": listeners,
            "master_keys": master_keys,
            "secrets": secrets,
        }
        for port, adapter in given.items():
            if adapter is not None:
                self.__dict__[port] = adapter  # takes the place of the cached_property below
        self._providers: dict[str, Provider] = dict(providers or {})
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        built = [p for p in _PORTS if p in self.__dict__]
        return f"Services(settings={self.settings!r}, built={built}, providers={sorted(self._providers)})"

    @cached_property
    def store(self) -> Store:
        s = self.settings
        scope = s.store_transaction_scope
        if s.store == "memory":
            from pilothouse.store.memory import MemoryStore

            return MemoryStore(self.clock, transaction_scope=scope)
        if s.store == "sqlite":
            from pilothouse.store.sqlite import SqliteStore

            return SqliteStore(s.sqlite_path, self.clock, transaction_scope=scope)
        if s.store == "dynamodb":
            from pilothouse.store.dynamodb import DynamoStore

            # region and endpoint from the environment (AWS_DEFAULT_REGION, AWS_ENDPOINT_URL)
            return DynamoStore(
                s.table_name, clock=self.clock, create_table=s.create_resources, transaction_scope=scope
            )
        if s.store == "azure-tables":
            from pilothouse.store.azure_tables import AzureTableStore

            azure = azure_connection(s, "table")
            return AzureTableStore(
                s.table_name,
                connection_string=azure.connection_string,
                endpoint=s.azure_table_endpoint or azure.endpoint,
                credential=azure.credential,
                clock=self.clock,
                create_table=s.create_resources,
            )
        if s.store == "firestore":
            from pilothouse.store.firestore import FirestoreStore

            return FirestoreStore(
                s.firestore_collection, project=s.gcp_project, database=s.firestore_database, clock=self.clock
            )
        raise _unavailable(f"store {s.store!r} is not available in this build")

    @cached_property
    def queue(self) -> Queue:
        s = self.settings
        if s.queue == "memory":
            from pilothouse.messaging.memory import MemoryQueue

            q: Queue = MemoryQueue(self.clock)
        elif s.queue == "local":
            from pilothouse.messaging.local import LocalQueue

            q = LocalQueue(s.queue_path, self.clock)
        elif s.queue == "sqs":
            from pilothouse.messaging.sqs import SqsQueue

            # The template owns the deployed queues (and their dead-letter queues): not declared here.
            return SqsQueue()
        elif s.queue == "azure-queue":
            return self._azure_queue()
        elif s.queue == "pubsub":
            from pilothouse.messaging.pubsub import PubSubQueue

            # Terraform owns deployed topics and subscriptions; `pilothouse dev` (create_resources)
            # declares them below, as for the local queues
            q = PubSubQueue(s.gcp_project)
            if not s.create_resources:
                return q
        else:
            raise _unavailable(f"queue {s.queue!r} is not available in this build")
        from pilothouse.ports import QueueSpec

        for name, visibility in queue_visibilities(s):
            q.declare(QueueSpec(name + "-dlq"))
            q.declare(
                QueueSpec(
                    name, visibility_timeout=visibility, max_receive_count=5, dead_letter_queue=name + "-dlq"
                )
            )
        return q

    def _azure_queue(self) -> Queue:
        """Azure Storage queues. infra/azure owns the deployed queues (their settings are queue
        metadata); with ``create_resources`` (Azurite, dev) each is declared here with a
        ``<name>-poison`` dead-letter queue, the Azure Functions convention."""
        from pilothouse.messaging.azure_queue import AzureStorageQueue
        from pilothouse.ports import QueueSpec

        s = self.settings
        azure = azure_connection(s, "queue")
        q = AzureStorageQueue(
            connection_string=azure.connection_string,
            account_url=azure.endpoint,
            blob_account_url=azure_connection(s, "blob").endpoint,
            credential=azure.credential,
        )
        if s.create_resources:
            for name, visibility in queue_visibilities(s):
                q.declare(QueueSpec(name + "-poison"))
                q.declare(
                    QueueSpec(
                        name,
                        visibility_timeout=visibility,
                        max_receive_count=5,
                        dead_letter_queue=name + "-poison",
                    )
                )
        return q

    @cached_property
    def orchestrator(self) -> Orchestrator:
        """Where workflows run (settings.orchestrator): the embedded engine or AWS Step Functions."""
        if self.settings.orchestrator == "stepfunctions":
            from pilothouse.orchestrators.stepfunctions import StepFunctionsOrchestrator

            return StepFunctionsOrchestrator(
                role_arn=self.settings.sfn_role_arn, prefix=self.settings.sfn_prefix
            )
        # The embedded engine is the services' own work, hence imported from there (and only here).
        from pilothouse.services.embedded_orchestrator import EmbeddedOrchestrator

        return EmbeddedOrchestrator(self)

    @cached_property
    def listeners(self) -> ExecutionListeners:
        """Who hears that an execution ended (the deployment manager among them), whichever
        orchestrator ran it."""
        from pilothouse.services.execution_listeners import default_listeners

        return default_listeners()

    @cached_property
    def blobs(self) -> Blobs:
        """The object store for backups and artifacts."""
        s = self.settings
        if s.blobs == "memory":
            from pilothouse.blobs.memory import MemoryBlobs

            return MemoryBlobs(self.clock)
        if s.blobs == "local":
            from pilothouse.blobs.local import LocalBlobs

            return LocalBlobs(s.data_dir / "blobs")
        if s.blobs == "s3":
            from pilothouse.blobs.s3 import S3Blobs

            return S3Blobs(s.bucket_name, kms_key_id=s.kms_key_id, create_bucket=s.create_resources)
        if s.blobs == "azure-blob":
            import base64

            from pilothouse.blobs.azure_blob import AzureBlobs

            azure = azure_connection(s, "blob")
            key = base64.b64decode(s.azure_blob_customer_key) if s.azure_blob_customer_key else None
            return AzureBlobs(
                s.bucket_name,
                connection_string=azure.connection_string,
                account_url=azure.endpoint,
                credential=azure.credential,
                encryption_scope=s.azure_blob_encryption_scope,
                customer_key=key,
                create_container=s.create_resources,
            )
        if s.blobs == "gcs":
            from pilothouse.blobs.gcs import GcsBlobs

            return GcsBlobs(
                s.bucket_name,
                project=s.gcp_project,
                kms_key_name=s.gcs_kms_key_name,
                create_bucket=s.create_resources,
            )
        raise _unavailable(f"blobs {s.blobs!r} is not available in this build")

    @cached_property
    def invoker(self) -> Invoker:
        """Runs the functions Task states name (this project's functions, in this process)."""
        from pilothouse.embedded.invoker import LocalInvoker

        return LocalInvoker.from_project(self.settings.project_dir, self.settings)

    @cached_property
    def master_keys(self) -> KeyWrapper:
        """The master keys of envelope encryption (settings.key_provider): the local keyring or KMS."""
        s = self.settings
        if s.key_provider == "kms":
            from pilothouse.keyring.kms import KmsKeyWrapper

            key_id = s.envelope_kms_key_id or s.kms_key_id
            if not key_id:
                from pilothouse.errors import ConfigurationError

                raise ConfigurationError("key_provider=kms needs PILOTHOUSE_ENVELOPE_KMS_KEY_ID")
            return KmsKeyWrapper(key_id)
        if s.key_provider == "keyvault":
            from pilothouse.keyring.azure_keyvault import KeyVaultKeyWrapper

            url, name = (
                _require(s.azure_keyvault_url, "key_provider=keyvault", "AZURE_KEYVAULT_URL"),
                _require(s.azure_keyvault_key_name, "key_provider=keyvault", "AZURE_KEYVAULT_KEY_NAME"),
            )
            return KeyVaultKeyWrapper(
                url, name, key_version=s.azure_keyvault_key_version, algorithm=s.azure_keyvault_wrap_algorithm
            )
        if s.key_provider == "gcpkms":
            from pilothouse.keyring.gcp_kms import GcpKmsKeyWrapper

            return GcpKmsKeyWrapper(_require(s.gcp_kms_key_name, "key_provider=gcpkms", "GCP_KMS_KEY_NAME"))
        from pilothouse.keyring.local import LocalKeyring

        return LocalKeyring.from_settings(s.master_keys, s.master_key_id, s.key_file_path)

    @cached_property
    def secrets(self) -> SecretBackend:
        """Where secret values live (settings.secret_backend)."""
        s = self.settings
        if s.secret_backend == "secretsmanager":
            from pilothouse.secrets.aws import SecretsManagerSecrets

            return SecretsManagerSecrets(s.secrets_prefix.strip("/") + "/")
        if s.secret_backend == "ssm":
            from pilothouse.secrets.aws import SsmSecrets

            return SsmSecrets("/" + s.secrets_prefix.strip("/") + "/")
        if s.secret_backend == "keyvault":
            from pilothouse.secrets.azure_keyvault import KeyVaultSecrets

            url = _require(s.azure_keyvault_url, "secret_backend=keyvault", "AZURE_KEYVAULT_URL")
            return KeyVaultSecrets(url, prefix=s.cloud_secrets_prefix)
        if s.secret_backend == "gcp-secret-manager":
            import os

            from pilothouse.secrets.gcp_secret_manager import GcpSecretManagerSecrets

            project = _require(
                s.gcp_project or os.environ.get("GOOGLE_CLOUD_PROJECT"),
                "secret_backend=gcp-secret-manager",
                "GCP_PROJECT",
            )
            return GcpSecretManagerSecrets(project, prefix=s.cloud_secrets_prefix)
        from pilothouse.secrets.builtin import BuiltinSecrets

        return BuiltinSecrets(self.store, self.master_keys)

    @contextlib.contextmanager
    def scratch_store(self, clock: Clock | None = None) -> Iterator[Store]:
        """A new empty store removed on exit (backup drills): in memory under the memory store,
        else SQLite in a temporary directory (on Lambda, /tmp). A drill proves the backup restores
        through the storage port; the port is the same whatever the store."""
        if self.settings.store == "memory":
            from pilothouse.store.memory import MemoryStore

            yield MemoryStore(clock or self.clock)
            return
        from pilothouse.store.sqlite import SqliteStore

        with tempfile.TemporaryDirectory(prefix="pilothouse-drill-") as scratch_dir:
            store = SqliteStore(Path(scratch_dir) / "scratch.db", clock or self.clock)
            try:
                yield store
            finally:
                store.close()

    @cached_property
    def oidc(self) -> OidcVerifier:
        """The verifier of bearer tokens from the trusted OIDC issuers (keys fetched on first use,
        through the outbound guard, and cached for this process)."""
        from pilothouse.identity.jwks import guarded_fetch
        from pilothouse.identity.oidc import OidcVerifier

        fetch = guarded_fetch(self.settings.outbound_policy())
        # tokens carry the issuer's wall-clock times, whatever this control plane's clock reads
        return OidcVerifier(self.settings.oidc_issuers, fetch=fetch, now=lambda: wall_time(self.clock))

    def provider(self, name: str) -> Provider:
        """The adapter for a component's provider, created on first use."""
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self._make_provider(name)
            return self._providers[name]

    def _make_provider(self, name: str) -> Provider:
        if name == "local":
            from pilothouse.providers.local import LocalProvider

            return LocalProvider(data_dir=self.settings.data_dir / "processes", clock=self.clock)
        if name == "aws-lambda":
            from pilothouse.providers.aws_lambda import LambdaProvider

            lam = LambdaProvider(timeout_seconds=self.settings.provider_timeout_seconds)
            lam.outbound = self.settings.outbound_policy()  # its HTTP health checks pass the guard
            return lam
        raise _unavailable(f"provider {name!r} is not available in this deployment")

    def close(self) -> None:
        """Stop what this process started (local processes) and release connections."""
        with self._lock:
            for provider in self._providers.values():
                provider.close()
            self._providers.clear()
        if "store" in self.__dict__:
            self.store.close()


_cache: dict[Settings, Services] = {}
_cache_lock = threading.Lock()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    return Services(settings, clock)


def get_services(settings: Settings | None = None) -> Services:
    """The services for these settings (from the environment by default), one per process."""
    settings = settings or get_settings()
    found = _cache.get(settings)  # the common case, without the lock (a dict read is atomic)
    if found is not None:
        return found
    with _cache_lock:
        if settings not in _cache:
            _cache[settings] = build_services(settings)
        return _cache[settings]


def register_services(services: Services) -> None:
    """Make ``services`` the ones :func:`get_services` returns for its settings (tests, dev server)."""
    with _cache_lock:
        _cache[services.settings] = services


def reset_services() -> None:
    """Close and forget every cached Services (tests, dev server shutdown)."""
    with _cache_lock:
        cached = list(_cache.values())
        _cache.clear()
    for services in cached:
        services.close()


class ServiceHooks:
    """The HTTP runtime's :class:`~pilothouse.runtime.guard.RequestHooks`: the services of this
    process, API-key authentication and the audit log."""

    def services(self) -> Services:
        return get_services()

    def authenticate(self, services: Services, key: str | None) -> Principal:
        if key and services.settings.oidc_issuers:  # the token verifier loads only where it can serve
            from pilothouse.identity.oidc import looks_like_jwt

            if looks_like_jwt(key):
                from pilothouse.domain.identity import principal_from_claims

                issuer, claims = services.oidc.verify(key)
                return principal_from_claims(issuer, claims)
        from pilothouse.services.keys import authenticate

        return authenticate(services, key)

    def authenticate_claims(self, services: Services, claims: dict[str, Any]) -> Principal:
        from pilothouse.domain.identity import principal_from_claims
        from pilothouse.errors import Unauthorized

        issuer = next((i for i in services.settings.oidc_issuers if i.issuer == claims.get("iss")), None)
        if issuer is None:
            raise Unauthorized("the token's issuer is not trusted here")
        return principal_from_claims(issuer, claims)

    def limit(
        self, services: Services, principal: Principal, *, operation: str, method: str
    ) -> dict[str, str]:
        """The rate limiter (token buckets in the store)."""
        from pilothouse.services.ratelimits import limit

        return limit(services, principal, operation=operation, method=method)

    def admit(
        self,
        services: Services,
        principal: Principal,
        *,
        operation: str,
        permission: Permission,
        params: dict[str, str],
        body: Any,
        break_glass: str | None = None,
    ) -> dict[str, Any]:
        """Admission of a mutating request (environment roles, deployment policies)."""
        from pilothouse.services.admission import admit

        return admit(
            services,
            principal,
            operation=operation,
            permission=permission,
            params=params,
            body=body,
            break_glass=break_glass,
        )

    def audit_in_commit(self, services: Services, **fields: Any) -> contextlib.AbstractContextManager[Any]:
        """The audit record of a call written with the change it commits (see
        :class:`pilothouse.services.audit.InCommit`); ``record`` holds it once it landed."""
        from pilothouse.services.audit import in_commit

        return in_commit(services, **fields)

    def audit(
        self,
        services: Services,
        *,
        principal: str,
        operation: str,
        resource: str | None,
        request_id: str,
        status: int,
        detail: str | None = None,
        actor: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
        policies: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        from pilothouse.services.audit import record

        return record(
            services,
            principal=principal,
            operation=operation,
            target=resource,
            request_id=request_id,
            status=status,
            detail=detail,
            actor=actor,
            request=request,
            policies=policies,
        )


def request_hooks() -> ServiceHooks:
    """The hooks the HTTP runtime uses unless given others."""
    return ServiceHooks()


def queue_visibilities(s: Settings) -> tuple[tuple[str, int], ...]:
    """The control plane's queues and their visibility timeouts (seconds)."""
    return (
        (s.jobs_queue, 900),
        (s.executions_queue, 60),
        (s.tasks_queue, 900),
        (s.task_messages_queue, 900),
        (s.notifications_queue, 360),
        (s.health_queue, 180),
    )


def _unavailable(message: str) -> Exception:
    """ProviderUnavailable (loaded when raised: the providers' port is not a cold start's to load)."""
    from pilothouse.ports import ProviderUnavailable

    return ProviderUnavailable(message)


def _require(value: str | None, what: str, variable: str) -> str:
    """A setting a chosen backend needs (ConfigurationError naming its variable if unset)."""
    if not value:
        from pilothouse.errors import ConfigurationError

        raise ConfigurationError(f"{what} needs PILOTHOUSE_{variable}")
    return value


class AzureConnection:
    """How an Azure adapter reaches its service: a connection string, or an endpoint and a credential."""

    def __init__(self, connection_string: str | None, endpoint: str | None, credential: Any) -> None:
        self.connection_string = connection_string
        self.endpoint = endpoint
        self.credential = credential


def azure_connection(settings: Settings, service: str) -> AzureConnection:
    """The SDKs' usual settings: ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, account keys), else the
    account of ``PILOTHOUSE_AZURE_STORAGE_ACCOUNT`` with a managed identity (azure-identity's
    DefaultAzureCredential, which the deployment installs)."""
    import os

    from pilothouse.errors import ConfigurationError

    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection_string:
        return AzureConnection(connection_string, None, None)
    if not settings.azure_storage_account:
        raise ConfigurationError(
            "Azure adapters need AZURE_STORAGE_CONNECTION_STRING or PILOTHOUSE_AZURE_STORAGE_ACCOUNT"
        )
    try:
        from azure.identity import DefaultAzureCredential  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:
        raise ConfigurationError(
            "PILOTHOUSE_AZURE_STORAGE_ACCOUNT uses a managed identity: install azure-identity"
        ) from exc
    endpoint = f"https://{settings.azure_storage_account}.{service}.core.windows.net"
    return AzureConnection(None, endpoint, DefaultAzureCredential())
