"""Cryptography Pilothouse does itself: envelope encryption (:mod:`.envelope`).

Pure computation over the key port (:mod:`pilothouse.ports.keys`): no I/O, no settings. The
``cryptography`` package is imported on first use, so importing this package costs nothing.
"""
