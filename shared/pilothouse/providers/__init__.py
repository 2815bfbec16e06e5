"""Deployment targets behind one port (see :mod:`pilothouse.providers.base`)."""
