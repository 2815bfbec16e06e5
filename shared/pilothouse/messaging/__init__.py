"""Queue adapters (the port is :class:`pilothouse.ports.Queue`): memory, local (SQLite) and sqs.

Nothing is imported here, so loading one adapter (sqs on Lambda) loads no other.
"""
