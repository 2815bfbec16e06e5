"""Secret-value backends (the :class:`~pilothouse.ports.secrets.SecretBackend` port): the built-in
encrypted store (:mod:`.builtin`), AWS Secrets Manager and SSM Parameter Store (:mod:`.aws`)."""
