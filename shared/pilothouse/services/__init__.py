"""Business operations, one module per manager. Services depend on ports, never on adapters."""
