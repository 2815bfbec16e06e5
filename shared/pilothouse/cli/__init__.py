"""The ``pilothouse`` command line: a thin client of the HTTP API plus the local dev/demo launchers.

Modules: :mod:`.main` (the root app), :mod:`.client` (HTTP), :mod:`.render` (output),
:mod:`.wait` (following a command to its end), :mod:`.components`, :mod:`.keys`, :mod:`.audit`,
:mod:`.local` (dev, demo, invoke), :mod:`.files` (reading spec/config/event files).
"""
