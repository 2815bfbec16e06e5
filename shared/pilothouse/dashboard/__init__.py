"""The web dashboard: server-rendered pages over the HTTP API, served by the ``dashboard`` function.

``GET /`` and every page path answer the same small shell (``templates/shell.html``); its script
(``static/app.js``) keeps the caller's API key or OIDC token in ``sessionStorage`` and loads the page's
fragment from ``/ui/<page path>`` with ``Authorization: Bearer``. Fragments are rendered by
:mod:`pilothouse.dashboard.pages` from the answers of the API's own read operations, called in process
(:mod:`pilothouse.dashboard.api_calls`), so a page shows exactly what its caller may read; every button
calls the API operation itself, so it is authorised, rate-limited and audited as that call is.
Live parts stream as server-sent events on the embedded gateway (:mod:`pilothouse.dashboard.stream`)
and are polled with ``If-None-Match`` where the gateway cannot stream (API Gateway).
"""
