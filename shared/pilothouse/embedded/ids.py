"""Request ids for the embedded cloud, made without a system call.

``uuid.uuid4()`` reads 16 bytes from the kernel for every id: a system call that also lets go of
the GIL, which in the gateway's event loop (and in each function thread) means waiting to get it
back from whichever thread took it. An id here is a random prefix drawn once per process (again
in a forked child) and a counter: unique across processes and restarts (64 random bits), and the
same shape as before (32 hex digits; :func:`invocation_id` in the 8-4-4-4-12 form of a Lambda
request id). Like API Gateway's, these ids correlate, they authorize nothing: do not use them as
secrets.

    >>> len(request_id()), request_id() != request_id()
    (32, True)
"""

from __future__ import annotations

import itertools
import os

_prefix = os.urandom(8).hex()
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


os.register_at_fork(after_in_child=_reseed)


def request_id() -> str:
    """A fresh id of 32 hex digits (``next`` on the counter is atomic: threads never share one)."""
    return f"{_prefix}{next(_counter):016x}"


def invocation_id() -> str:
    """A fresh id in the form of a Lambda request id (``8-4-4-4-12`` hex digits)."""
    h = request_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
