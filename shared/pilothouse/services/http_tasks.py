"""HTTP tasks: a workflow's Task state calling an HTTP endpoint, as Step Functions' HTTP task does.

A Task with ``"Resource": "arn:aws:states:::http:invoke"`` and ``Parameters`` (or JSONata
``Arguments``) ``ApiEndpoint``, ``Method``, ``Headers``, ``QueryParameters``, ``RequestBody`` (and
``Transform.RequestBodyEncoding`` ``URL_ENCODED``) sends one request and returns what AWS returns::

    {"StatusCode": 200, "StatusText": "OK", "Headers": {"content-type": ["application/json"]},
     "ResponseBody": {...}}

* ``ApiEndpoint`` may be ``component://<name>/<path>``: the stable URL of the registered component
  ``<name>`` in the execution's environment (``<name>`` itself when it lives there, else its twin
  ``<name>-<environment>``), plus ``<path>``.
* A plain ``http(s)://`` URL is allowed only to the hosts of the setting ``http_task_allow_hosts``.
* Every request goes through the outbound guard (:mod:`pilothouse.net.outbound`): no link-local or
  metadata address, no redirect followed, the body read up to ``http_task_max_body_bytes``.
* A status outside 2xx fails the task with ``States.Http.StatusCode.<code>`` (so ``Retry`` and
  ``Catch`` match it as on AWS); a connection failure or timeout with ``States.Http.Socket``; a
  refusal by the guard with ``Pilothouse.HttpTaskRefused``.

Literal endpoints are checked when the definition is registered (:func:`definition_errors`), so a
metadata address is refused before anything runs; computed ones (``ApiEndpoint.$``) when the task runs.

    >>> [e["message"][:40] for e in definition_errors({"StartAt": "T", "States": {"T": {
    ...     "Type": "Task", "Resource": HTTP_INVOKE, "End": True, "Parameters": {
    ...     "ApiEndpoint": "http://169.254.169.254/latest", "Method": "GET"}}}}, ("*",))]
    ['169.254.169.254 is a cloud metadata addr']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, check_url
from pilothouse.ports import FunctionError
from pilothouse.services.context import ServiceContext

HTTP_INVOKE = "arn:aws:states:::http:invoke"
COMPONENT_SCHEME = "component://"
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"})
#: headers the request itself owns: a definition may not set them
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "expect"}
)
ERROR_REFUSED = "Pilothouse.HttpTaskRefused"
ERROR_SOCKET = "States.Http.Socket"
_COMPONENT = re.compile(r"^component://(?P<name>[a-z][a-z0-9-]{0,62})(?P<path>/[^\s#]*)?$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")


def is_http_task(resource: Any) -> bool:
    """True for the HTTP task's resource."""
    return resource == HTTP_INVOKE


def policy(allow_private: bool, allow_hosts: tuple[str, ...]) -> OutboundPolicy:
    """The guard's policy for plain URLs: only the allow-listed hosts (none when the list is empty)."""
    return OutboundPolicy(allow_private=allow_private, allow_hosts=allow_hosts or ("\x00none",))


def _states(machine: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(machine, dict) or not isinstance(machine.get("States"), dict):
        return
    for name, state in machine["States"].items():
        if not isinstance(state, dict):
            continue
        here = f"{path}.States.{name}"
        yield here, state
        for i, branch in enumerate(state.get("Branches") or []):
            yield from _states(branch, f"{here}.Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _states(state[key], f"{here}.{key}")


def _computed(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("{%")


def endpoint_error(endpoint: Any, allow_hosts: tuple[str, ...], allow_private: bool = True) -> str | None:
    """Why a literal ``ApiEndpoint`` may not be called (None: it may)."""
    if not isinstance(endpoint, str) or not endpoint:
        return "ApiEndpoint must be a non-empty string"
    if endpoint.startswith(COMPONENT_SCHEME):
        m = _COMPONENT.match(endpoint)
        if m is None:
            return "a component endpoint is component://<component name>/<path>"
        if ".." in (m.group("path") or "").split("?")[0].split("/"):
            return "a component endpoint's path may not contain '..'"
        return None
    try:
        check_url(endpoint, policy(allow_private, allow_hosts))
    except OutboundRefused as exc:
        if "allow-list" in exc.reason and not allow_hosts:
            return (
                f"{exc.reason}: plain URLs are allowed only to the hosts of the setting "
                "PILOTHOUSE_HTTP_TASK_ALLOW_HOSTS (empty here); use component://<name>/<path>"
            )
        return exc.reason
    return None


def _arguments_errors(args: dict[str, Any], allow_hosts: tuple[str, ...], allow_private: bool):
    if "ApiEndpoint" in args and not _computed(args["ApiEndpoint"]):
        why = endpoint_error(args["ApiEndpoint"], allow_hosts, allow_private)
        if why:
            yield "ApiEndpoint", why
    elif "ApiEndpoint.$" not in args and "ApiEndpoint" not in args:
        yield "ApiEndpoint", "an HTTP task needs ApiEndpoint"
    method = args.get("Method")
    if (
        "Method" in args
        and not _computed(method)
        and (not isinstance(method, str) or method.upper() not in METHODS)
    ):
        yield "Method", f"Method must be one of {', '.join(sorted(METHODS))}"
    elif "Method" not in args and "Method.$" not in args:
        yield "Method", "an HTTP task needs Method"
    headers = args.get("Headers")
    if isinstance(headers, dict):
        for key in headers:
            name = key[:-2] if key.endswith(".$") else key
            if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
                yield f"Headers.{key}", f"{name!r} is not a header an HTTP task may set"


def definition_errors(
    definition: dict[str, Any], allow_hosts: tuple[str, ...], allow_private: bool = True
) -> list[dict[str, str]]:
    """Validation errors (``path``, ``message``) of every HTTP task in ``definition``."""
    errors: list[dict[str, str]] = []
    for path, state in _states(definition, "$"):
        if state.get("Type") != "Task" or not isinstance(state.get("Resource"), str):
            continue
        resource = state["Resource"]
        if resource.startswith(HTTP_INVOKE) and resource != HTTP_INVOKE:
            errors.append(
                {"path": f"{path}.Resource", "message": "an HTTP task has no .sync or .waitForTaskToken form"}
            )
            continue
        if resource != HTTP_INVOKE:
            continue
        key = "Arguments" if "Arguments" in state else "Parameters"
        args = state.get(key)
        if _computed(args):
            continue  # a JSONata expression: checked when the task runs
        if not isinstance(args, dict):
            errors.append({"path": f"{path}.{key}", "message": "an HTTP task needs ApiEndpoint and Method"})
            continue
        for field, message in _arguments_errors(args, allow_hosts, allow_private):
            errors.append({"path": f"{path}.{key}.{field}", "message": message})
    return errors


# -- at run time ---------------------------------------------------------------------------------


def _refuse(message: str) -> FunctionError:
    return FunctionError(ERROR_REFUSED, message)


def resolve_component(services: ServiceContext, endpoint: str, environment: str | None) -> str:
    """The URL ``component://<name>/<path>`` stands for in ``environment`` (None: the component's own)."""
    from pilothouse.repositories.components import ComponentRepository

    m = _COMPONENT.match(endpoint)
    if m is None or ".." in (m.group("path") or "").split("?")[0].split("/"):
        raise _refuse("a component endpoint is component://<component name>/<path>")
    name = m.group("name")
    repo = ComponentRepository(services.store)
    record = repo.get(name)
    if record is not None and environment and record.data["spec"].get("environment") != environment:
        own = record.data["spec"].get("environment")
        record = repo.get(f"{name}-{environment}")
        if record is None or record.data["spec"].get("environment") != environment:
            raise FunctionError(
                ERROR_SOCKET,
                f"component://{name} in {environment}: {name!r} lives in {own} and no component "
                f"{name}-{environment} is registered in {environment}; this execution calls "
                f"components of {environment} only",
            )
    if record is None:
        where = f" in {environment}" if environment else ""
        raise FunctionError(ERROR_SOCKET, f"no component {name!r}{where} to call")
    url = record.data.get("url")
    if not url:
        raise FunctionError(
            ERROR_SOCKET, f"component {record.data['name']!r} is {record.data['state']}: no URL"
        )
    return str(url).rstrip("/") + (m.group("path") or "/")


def _body(args: dict[str, Any]) -> tuple[bytes | None, str | None]:
    if "RequestBody" not in args or args["RequestBody"] is None:
        return None, None
    body = args["RequestBody"]
    transform = args.get("Transform") if isinstance(args.get("Transform"), dict) else {}
    if (transform or {}).get("RequestBodyEncoding") == "URL_ENCODED" and isinstance(body, dict):
        return urlencode(
            {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in body.items()}
        ).encode(), ("application/x-www-form-urlencoded")
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


def _query(url: str, params: Any) -> str:
    if not params:
        return url
    if not isinstance(params, dict):
        raise _refuse("QueryParameters must be an object")
    pairs = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in params.items()]
    return url + ("&" if "?" in url else "?") + urlencode(pairs, quote_via=quote)


def _headers(raw: Any, content_type: str | None) -> dict[str, str]:
    if raw is not None and not isinstance(raw, dict):
        raise _refuse("Headers must be an object")
    headers: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if not _HEADER_NAME.match(str(key)) or str(key).lower() in RESERVED_HEADERS:
            raise _refuse(f"{key!r} is not a header an HTTP task may set")
        text = value if isinstance(value, str) else json.dumps(value)
        if any(c in text for c in "\r\n\x00"):
            raise _refuse(f"header {key!r} carries a line break")
        headers[str(key)] = text
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    headers.setdefault("User-Agent", "pilothouse-http-task")
    return headers


def _response_body(content: bytes, content_type: str) -> Any:
    text = content.decode("utf-8", "replace")
    if "json" in content_type.lower() or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def invoke(services: ServiceContext, execution: dict[str, Any], args: Any, *, transport: Any = None) -> dict:
    """Send the HTTP task's request; its result as Step Functions returns it, or FunctionError.
    ``component://`` leads to the component of the execution's environment."""
    from pilothouse.services import execution_environments

    def component_url(endpoint: str) -> str:
        return resolve_component(services, endpoint, execution_environments.of(services, execution))

    return send(services.settings, args, component_url, transport=transport)


def offline_components(endpoint: str, components: dict[str, str]) -> str:
    """``component://<name>/<path>`` for ``pilothouse workflow run`` (no control plane): ``<name>``'s
    URL from ``components`` (``--component NAME=URL``), plus ``<path>``."""
    m = _COMPONENT.match(endpoint)
    if m is None or ".." in (m.group("path") or "").split("?")[0].split("/"):
        raise _refuse("a component endpoint is component://<component name>/<path>")
    url = components.get(m.group("name"))
    if not url:
        raise FunctionError(
            ERROR_SOCKET,
            f"no URL for component {m.group('name')!r} offline: give it with --component "
            f"{m.group('name')}=http://127.0.0.1:PORT",
        )
    return url.rstrip("/") + (m.group("path") or "/")


def send(settings: Any, args: Any, component_url: Any, *, transport: Any = None) -> dict:
    """The request of an HTTP task's arguments ``args``, through the outbound guard of ``settings``
    (:class:`~pilothouse.settings.Settings`): ``component_url(endpoint)`` resolves a
    ``component://`` endpoint (then the guard's general policy applies); a plain URL must be on
    ``http_task_allow_hosts``. The engine and ``pilothouse workflow run`` both send through here."""
    import httpx

    from pilothouse.net.outbound import request

    if not isinstance(args, dict):
        raise _refuse("an HTTP task needs Parameters with ApiEndpoint and Method")
    endpoint = args.get("ApiEndpoint")
    method = args.get("Method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise _refuse(f"Method must be one of {', '.join(sorted(METHODS))}")
    if isinstance(endpoint, str) and endpoint.startswith(COMPONENT_SCHEME):
        url = component_url(endpoint)
        guard = settings.outbound_policy()  # the component's own URL: the deployment's general policy
    else:
        why = endpoint_error(endpoint, settings.http_task_allow_hosts, settings.outbound_allow_private)
        if why:
            raise _refuse(why)
        url = str(endpoint)
        guard = policy(settings.outbound_allow_private, settings.http_task_allow_hosts)
    content, content_type = _body(args)
    try:
        answer = request(
            method.upper(),
            _query(url, args.get("QueryParameters")),
            policy=guard,
            timeout=settings.http_task_timeout_seconds,
            headers=_headers(args.get("Headers"), content_type),
            content=content,
            max_body_bytes=settings.http_task_max_body_bytes,
            transport=transport,
        )
    except OutboundRefused as exc:
        raise _refuse(exc.reason) from None
    except (httpx.HTTPError, OSError) as exc:
        raise FunctionError(ERROR_SOCKET, f"{method.upper()} {url}: {type(exc).__name__}: {exc}") from None
    try:
        reason = HTTPStatus(answer.status_code).phrase
    except ValueError:
        reason = ""
    headers = {k.lower(): [v] for k, v in answer.headers.items()}
    body = _response_body(answer.content, answer.headers.get("content-type", ""))
    if not 200 <= answer.status_code < 300:
        detail = body if isinstance(body, str) else json.dumps(body)
        raise FunctionError(
            f"States.Http.StatusCode.{answer.status_code}",
            f"{method.upper()} {url} answered {answer.status_code} {reason}: {detail[:500]}",
        )
    return {"StatusCode": answer.status_code, "StatusText": reason, "Headers": headers, "ResponseBody": body}


# -- on Step Functions ----------------------------------------------------------------------------

#: how a task message spells the HTTP task's ``States.Http.*`` errors on Step Functions. There the
#: HTTP task is an SQS callback task failed with SendTaskFailure, and an error name starting with
#: ``States.`` is not one a caller may report (moto's interpreter fails the execution with
#: ``States.Runtime`` when it gets one, and refuses ``States.Http.*`` in ``ErrorEquals``); so the
#: message reports ``Pilothouse.Http.StatusCode.<code>`` / ``Pilothouse.Http.Socket`` and
#: :func:`http_tasks_over_sqs` rewrites the state's ``Retry`` and ``Catch`` to match: what the user
#: wrote retries and catches the same, and only the error's spelling in the state's data differs.
SFN_ERROR_PREFIX = "Pilothouse.Http."
_STATES_HTTP = "States.Http."


def sfn_error_name(name: str) -> str:
    """``States.Http.StatusCode.503`` as a task message reports it on Step Functions.

    >>> sfn_error_name("States.Http.StatusCode.503"), sfn_error_name("States.ALL")
    ('Pilothouse.Http.StatusCode.503', 'States.ALL')
    """
    return SFN_ERROR_PREFIX + name[len(_STATES_HTTP) :] if name.startswith(_STATES_HTTP) else name


def _sfn_error_names(state: dict[str, Any]) -> None:
    for key in ("Retry", "Catch"):
        for rule in state.get(key) or []:
            if isinstance(rule, dict) and isinstance(rule.get("ErrorEquals"), list):
                rule["ErrorEquals"] = [
                    sfn_error_name(n) if isinstance(n, str) else n for n in rule["ErrorEquals"]
                ]


def http_tasks_over_sqs(definition: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """A user definition for Step Functions: each HTTP task becomes a message on the task-messages
    queue (``run_task_message`` sends the request here, resolving ``component://`` and passing the
    outbound guard, and answers the task token: a non-2xx status fails it with
    ``Pilothouse.Http.StatusCode.<code>``, which the state's Retry and Catch, rewritten here from
    ``States.Http.*`` (see :data:`SFN_ERROR_PREFIX`), match). JSONPath only."""
    import copy

    from pilothouse.errors import ValidationFailed

    out = copy.deepcopy(definition)
    jsonata = definition.get("QueryLanguage") == "JSONata"
    for _, state in _states(out, "$"):
        if state.get("Type") != "Task" or state.get("Resource") != HTTP_INVOKE:
            continue
        if (
            state.get("QueryLanguage", "JSONata" if jsonata else "JSONPath") == "JSONata"
            or "Arguments" in state
        ):
            raise ValidationFailed.field(
                "definition", "on Step Functions an HTTP task must use JSONPath (Parameters), not JSONata"
            )
        body: dict[str, Any] = {
            "function": HTTP_INVOKE,
            "payload": state.get("Parameters") or {},
            "token.$": "$$.Task.Token",
            "callback": False,
            "envelope": False,
            "execution.$": "$$.Execution.Id",
            "state.$": "$$.State.Name",
        }
        state["Resource"] = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
        state["Parameters"] = {"QueueUrl": queue_url, "MessageBody": body}
        _sfn_error_names(state)
    return out


def has_http_tasks(definition: dict[str, Any]) -> bool:
    return any(
        s.get("Type") == "Task" and s.get("Resource") == HTTP_INVOKE for _, s in _states(definition, "$")
    )
