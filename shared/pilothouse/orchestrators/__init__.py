"""Where workflows run: the embedded durable engine, or AWS Step Functions (same API, same views)."""
