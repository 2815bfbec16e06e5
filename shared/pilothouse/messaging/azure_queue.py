"""The queue port on Azure Storage queues (semantics: see :mod:`.base`), through
``azure-storage-queue``.

    queue = AzureStorageQueue(connection_string=os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    queue.declare(QueueSpec("jobs-poison"))
    queue.declare(QueueSpec("jobs", visibility_timeout=900, max_receive_count=5,
                            dead_letter_queue="jobs-poison"))

How the port maps onto Azure Storage queues:

* **Envelope.** Each Azure message is a JSON envelope ``{"id", "t", "b", "a"}``: our message id,
  the time it was first sent, the body and the attributes (Azure messages have neither ids that
  survive a move nor attributes), Base64-encoded as the Azure Functions queue trigger expects by
  default. :func:`open_envelope` reads one (the Azure trigger adapter uses it).
* **Size.** Azure takes 64 KiB per message, 48 KiB before Base64; the port promises 256 KiB. A
  larger envelope goes to a blob (container ``payload_container``, name ``<queue>/<id>``) and the
  message carries ``"ref"`` instead of ``"b"`` (the claim-check pattern); the blob is deleted with
  the message, moved with it to the dead-letter queue, and removed by :meth:`purge`.
* **Receipt handles** are ``<Azure message id>|<pop receipt>|<blob ref>``. Azure issues a new pop
  receipt on every receive *and* on every visibility change; the port keeps a handle valid until
  the next receive, so this adapter remembers (in process, for the last 10,000 handles) the pop
  receipt a ``change_visibility`` returned. A handle used in another process after a visibility
  change there is stale here (``InvalidReceiptHandle``; a delete is then ignored and the message
  comes back after its timeout: at-least-once, as SQS).
* **Retries** are Azure's ``dequeue_count``. When a queue has a dead-letter queue and a received
  message's count passes ``max_receive_count``, it is re-sent to the dead-letter queue (same id,
  body, attributes and sent time, count starting over) and deleted here; the receive goes on for
  more. The Azure Functions convention is a ``<name>-poison`` queue: name it as the spec's
  ``dead_letter_queue`` (deployed queues and their ``maxDequeueCount`` live in infra/azure).
* **Queue settings** (visibility timeout, max receive count, dead-letter queue) are the queue's
  Azure metadata, read once per adapter and per queue (``declare`` through this adapter refreshes
  them).
* **Names**: ``name_prefix + name`` when that is a valid Azure queue name (3-63 lower-case letters,
  digits and single dashes); otherwise a lower-cased spelling with a short hash of the original.
* **Whole seconds.** Delays and visibility timeouts are rounded up; a receive hides a message for
  at least 1 s (Azure's minimum). There is no long polling: ``wait_seconds`` polls every 50 ms,
  backing off to 500 ms.
* **Depth.** Azure counts a queue's messages, visible or not, in one number, and lets you peek at
  up to 32 visible ones. ``visible`` is exact up to 31 (else the total less what is known to be
  delayed); ``delayed`` counts the messages this adapter sent with a delay that is not yet over
  (delays sent by other processes count as in flight); ``in_flight`` is the rest.
* ``send_batch`` sends one message after another (Azure has no batch send), in order; not atomic.
* Messages never expire (``time_to_live=-1``); ``purge`` clears the queue (Azure: Clear Messages).

The SDKs are imported when an adapter is created.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import math
import re
import threading
import time
import uuid
from typing import Any

from pilothouse.messaging.base import (
    InvalidReceiptHandle,
    Message,
    MessagingError,
    QueueNotFound,
    QueueSpec,
    check_delay,
    check_message,
    check_receive,
    check_spec,
    check_visibility,
)

#: the largest envelope sent inline: Azure's 64 KiB message after Base64 (4/3)
MAX_INLINE_BYTES = 48 * 1024
_PEEK = 32
_REMEMBERED_HANDLES = 10_000
_VALID_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


class AzureQueueError(MessagingError):
    """An Azure Storage queue request failed for a reason the port has no error for; ``code`` is
    Azure's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def azure_queue_name(name: str) -> str:
    """The Azure spelling of a port queue name (itself when valid; otherwise lower-cased and hashed)."""
    if _VALID_NAME.match(name):
        return name
    spelled = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", name.lower())).strip("-")
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{spelled[:54].strip('-') or 'q'}-{digest}"


def open_envelope(text: str) -> dict[str, Any]:
    """The envelope of an Azure message's (decoded) text: ``id``, ``t``, ``a`` and ``b`` or ``ref``."""
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        raise AzureQueueError("not a Pilothouse queue message", "InvalidEnvelope") from exc
    if (
        not isinstance(envelope, dict)
        or "id" not in envelope
        or ("b" not in envelope and "ref" not in envelope)
    ):
        raise AzureQueueError("not a Pilothouse queue message", "InvalidEnvelope")
    return envelope


def _code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


class AzureStorageQueue:
    """Named Azure Storage queues (see the module documentation)."""

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        blob_account_url: str | None = None,
        credential: Any = None,
        name_prefix: str = "",
        payload_container: str = "pilothouse-queue-payloads",
    ) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
        from azure.storage.queue import QueueServiceClient, TextBase64DecodePolicy, TextBase64EncodePolicy

        if connection_string:
            self._service = QueueServiceClient.from_connection_string(connection_string)
        elif account_url:
            self._service = QueueServiceClient(account_url, credential=credential)
        else:
            raise MessagingError("the Azure queue needs a connection string or an account URL")
        self._connection_string = connection_string
        self._blob_account_url = blob_account_url
        self._credential = credential
        self._encode, self._decode = TextBase64EncodePolicy(), TextBase64DecodePolicy()
        self._HttpResponseError = HttpResponseError
        self._NotFound = ResourceNotFoundError
        self._Exists = ResourceExistsError
        self.name_prefix = name_prefix
        self.payload_container = payload_container
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._specs: dict[str, QueueSpec] = {}
        self._pops: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._delayed: dict[str, list[float]] = {}
        self._payloads: Any = None

    # -- plumbing ----------------------------------------------------------------------------------

    def _client(self, queue: str) -> Any:
        with self._lock:
            client = self._clients.get(queue)
            if client is None:
                client = self._service.get_queue_client(
                    azure_queue_name(self.name_prefix + queue),
                    message_encode_policy=self._encode,
                    message_decode_policy=self._decode,
                )
                self._clients[queue] = client
            return client

    def _error(self, exc: Exception, queue: str, operation: str) -> MessagingError:
        code = _code(exc)
        if code == "QueueNotFound":
            with self._lock:
                self._specs.pop(queue, None)
            return QueueNotFound(queue)
        if code in ("RequestBodyTooLarge", "MessageTooLarge"):
            from pilothouse.messaging.base import MessageTooLarge

            return MessageTooLarge(f"Azure refused the message for {queue!r} as too large")
        message = str(getattr(exc, "message", None) or exc).splitlines()[0][:300]
        return AzureQueueError(f"Azure {operation} on queue {queue!r} failed: {code}: {message}", code)

    def _call(self, queue: str, operation: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client(queue), operation)(*args, **kwargs)
        except self._HttpResponseError as exc:
            raise self._error(exc, queue, operation) from exc

    def _spec(self, queue: str) -> QueueSpec:
        with self._lock:
            spec = self._specs.get(queue)
        if spec is not None:
            return spec
        metadata = self._call(queue, "get_queue_properties").metadata or {}
        spec = QueueSpec(
            queue,
            visibility_timeout=int(metadata.get("visibilitytimeout", 30)),
            max_receive_count=int(metadata["maxreceivecount"]) if metadata.get("maxreceivecount") else None,
            dead_letter_queue=metadata.get("deadletterqueue") or None,
        )
        with self._lock:
            self._specs[queue] = spec
        return spec

    def _blobs(self) -> Any:
        """The claim-check container (created on first use)."""
        with self._lock:
            if self._payloads is not None:
                return self._payloads
        from azure.storage.blob import BlobServiceClient

        if self._connection_string:
            service = BlobServiceClient.from_connection_string(self._connection_string)
        else:
            service = BlobServiceClient(self._blob_account_url or "", credential=self._credential)
        container = service.get_container_client(self.payload_container)
        try:
            container.create_container()
        except self._Exists:
            pass
        except self._HttpResponseError as exc:
            raise AzureQueueError(f"Azure create_container failed: {_code(exc)}", _code(exc)) from exc
        with self._lock:
            self._payloads = container
        return container

    # -- the port ----------------------------------------------------------------------------------

    def url_of(self, queue: str) -> str:
        """The queue's URL."""
        return str(self._client(queue).url)

    def declare(self, spec: QueueSpec) -> None:
        check_spec(spec)
        if spec.dead_letter_queue is not None:
            self._call(spec.dead_letter_queue, "get_queue_properties")  # QueueNotFound if undeclared
        metadata = {"visibilitytimeout": str(spec.visibility_timeout)}
        if spec.dead_letter_queue is not None:
            metadata["maxreceivecount"] = str(spec.max_receive_count)
            metadata["deadletterqueue"] = spec.dead_letter_queue
        elif spec.max_receive_count is not None:
            metadata["maxreceivecount"] = str(spec.max_receive_count)
        try:
            self._client(spec.name).create_queue(metadata=metadata)
        except self._Exists:
            self._call(spec.name, "set_queue_metadata", metadata)
        except self._HttpResponseError as exc:
            raise self._error(exc, spec.name, "create_queue") from exc
        with self._lock:
            self._specs[spec.name] = spec

    def _envelope(self, queue: str, body: str, attributes: dict[str, str] | None) -> tuple[str, str]:
        """A new message's id and envelope (its body in a blob when too large to travel inline)."""
        message_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "id": message_id,
            "t": time.time(),
            "a": dict(attributes or {}),
            "b": body,
        }
        text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode("utf-8")) <= MAX_INLINE_BYTES:
            return message_id, text
        ref = f"{azure_queue_name(self.name_prefix + queue)}/{message_id}"
        self._upload(ref, body)
        del envelope["b"]
        envelope["ref"] = ref
        return message_id, json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)

    def _upload(self, ref: str, body: str) -> None:
        try:
            self._blobs().upload_blob(ref, body.encode("utf-8"), overwrite=True)
        except self._HttpResponseError as exc:
            raise AzureQueueError(
                f"Azure upload of a large message failed: {_code(exc)}", _code(exc)
            ) from exc

    def _send_text(self, queue: str, text: str, delay: float) -> None:
        seconds = math.ceil(delay)
        self._call(queue, "send_message", text, visibility_timeout=seconds or None, time_to_live=-1)
        if seconds:
            with self._lock:
                self._delayed.setdefault(queue, []).append(time.time() + seconds)

    def send(
        self, queue: str, body: str, *, delay_seconds: float = 0, attributes: dict[str, str] | None = None
    ) -> str:
        check_delay(delay_seconds)
        check_message(body, attributes)
        message_id, text = self._envelope(queue, body, attributes)
        self._send_text(queue, text, delay_seconds)
        return message_id

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        check_delay(delay_seconds)
        for body in bodies:
            check_message(body, None)
        return [self.send(queue, body, delay_seconds=delay_seconds) for body in bodies]

    def _message(self, raw: Any) -> Message:
        envelope = open_envelope(raw.content)
        ref = envelope.get("ref")
        body = envelope["b"] if ref is None else self._download(ref)
        return Message(
            id=str(envelope["id"]),
            body=body,
            receipt_handle=f"{raw.id}|{raw.pop_receipt}|{ref or ''}",
            receive_count=int(raw.dequeue_count or 1),
            sent_at=float(envelope.get("t") or 0),
            attributes=dict(envelope.get("a") or {}),
        )

    def _download(self, ref: str) -> str:
        try:
            return bytes(self._blobs().download_blob(ref).readall()).decode("utf-8")
        except self._HttpResponseError as exc:
            raise AzureQueueError(
                f"Azure download of a large message failed: {_code(exc)}", _code(exc)
            ) from exc

    def _dead_letter(self, queue: str, spec: QueueSpec, raw: Any) -> None:
        """Move a message received once too often to the dead-letter queue (same envelope)."""
        assert spec.dead_letter_queue is not None
        envelope = open_envelope(raw.content)
        ref = envelope.get("ref")
        if ref is not None:  # the payload moves with it, so purging either queue keeps the other's
            new_ref = f"{azure_queue_name(self.name_prefix + spec.dead_letter_queue)}/{envelope['id']}"
            self._upload(new_ref, self._download(ref))
            envelope["ref"] = new_ref
        text = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        self._call(spec.dead_letter_queue, "send_message", text, time_to_live=-1)
        try:
            self._client(queue).delete_message(raw.id, raw.pop_receipt)
        except self._HttpResponseError:
            return  # taken back meanwhile: it may reach the dead-letter queue twice (at-least-once)
        if ref is not None:
            self._delete_payload(ref)

    def _receive_once(self, queue: str, spec: QueueSpec, max_messages: int, visibility: int) -> list[Message]:
        out: list[Message] = []
        while len(out) < max_messages:
            want = max_messages - len(out)
            raws = list(
                self._call(
                    queue,
                    "receive_messages",
                    max_messages=want,
                    messages_per_page=want,
                    visibility_timeout=visibility,
                )
            )
            if not raws:
                break
            for raw in raws:
                over = (
                    spec.max_receive_count is not None
                    and int(raw.dequeue_count or 1) > spec.max_receive_count
                )
                if over and spec.dead_letter_queue is not None:
                    self._dead_letter(queue, spec, raw)
                else:
                    out.append(self._message(raw))
        return out

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        check_receive(max_messages, visibility_timeout, wait_seconds)
        spec = self._spec(queue)
        timeout = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
        visibility = max(1, math.ceil(timeout))
        deadline = time.monotonic() + wait_seconds
        pause = 0.05
        while True:
            messages = self._receive_once(queue, spec, max_messages, visibility)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(pause, remaining))
            pause = min(0.5, pause * 2)

    @staticmethod
    def _parse(handle: str) -> tuple[str, str, str] | None:
        parts = handle.split("|") if isinstance(handle, str) else []
        return (parts[0], parts[1], parts[2]) if len(parts) == 3 and parts[0] and parts[1] else None

    def _pop_of(self, handle: str, pop: str) -> str:
        with self._lock:
            return self._pops.get(handle, pop)

    def delete(self, queue: str, receipt_handle: str) -> None:
        parsed = self._parse(receipt_handle)
        if parsed is None:
            self._spec(queue)  # QueueNotFound for an unknown queue; a handle not ours is ignored
            return
        message_id, pop, ref = parsed
        try:
            self._client(queue).delete_message(message_id, self._pop_of(receipt_handle, pop))
        except self._HttpResponseError as exc:
            if _code(exc) == "QueueNotFound":
                raise self._error(exc, queue, "delete_message") from exc
            return  # stale or already deleted: ignored, as the port asks
        finally:
            with self._lock:
                self._pops.pop(receipt_handle, None)
        if ref:
            self._delete_payload(ref)

    def payload(self, ref: str) -> str:
        """The body of a claim-checked message (its envelope's ``ref``): the Azure queue trigger reads
        large messages with it."""
        return self._download(ref)

    def delete_payload(self, ref: str) -> None:
        """Delete a claim-checked message's body (once the message is handled); gone already is fine."""
        self._delete_payload(ref)

    def _delete_payload(self, ref: str) -> None:
        with contextlib.suppress(self._HttpResponseError):  # already gone
            self._blobs().delete_blob(ref)

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        check_visibility(timeout)
        parsed = self._parse(receipt_handle)
        if parsed is None:
            self._spec(queue)
            raise InvalidReceiptHandle(f"receipt handle {receipt_handle!r} is not one of {queue!r}")
        message_id, pop, _ = parsed
        try:
            answer = self._client(queue).update_message(
                message_id, self._pop_of(receipt_handle, pop), visibility_timeout=math.ceil(timeout)
            )
        except self._HttpResponseError as exc:
            code = _code(exc)
            if code == "QueueNotFound":
                raise self._error(exc, queue, "update_message") from exc
            if code in ("MessageNotFound", "PopReceiptMismatch") or getattr(exc, "status_code", 0) in (
                400,
                404,
            ):
                raise InvalidReceiptHandle(
                    f"receipt handle {receipt_handle!r} is not the latest of a message in {queue!r}: {code}"
                ) from exc
            raise self._error(exc, queue, "update_message") from exc
        with self._lock:
            self._pops[receipt_handle] = answer.pop_receipt
            self._pops.move_to_end(receipt_handle)
            while len(self._pops) > _REMEMBERED_HANDLES:
                self._pops.popitem(last=False)

    def depth(self, queue: str) -> dict:
        total = int(self._call(queue, "get_queue_properties").approximate_message_count or 0)
        visible = len(self._call(queue, "peek_messages", max_messages=_PEEK))
        now = time.time()
        with self._lock:
            due = [t for t in self._delayed.get(queue, []) if t > now]
            self._delayed[queue] = due
        delayed = min(len(due), max(0, total - visible))
        if visible >= _PEEK:
            visible = max(visible, total - delayed)
        in_flight = max(0, total - visible - delayed)
        return {"visible": visible, "in_flight": in_flight, "delayed": delayed}

    def purge(self, queue: str) -> None:
        self._call(queue, "clear_messages")
        with self._lock:
            self._delayed.pop(queue, None)
        if self._payloads is None and not self._connection_string and not self._blob_account_url:
            return
        prefix = azure_queue_name(self.name_prefix + queue) + "/"
        try:
            container = self._blobs()
            for blob in container.list_blobs(name_starts_with=prefix):
                self._delete_payload(blob.name)
        except self._HttpResponseError as exc:
            raise AzureQueueError(f"Azure purge of large messages failed: {_code(exc)}", _code(exc)) from exc
