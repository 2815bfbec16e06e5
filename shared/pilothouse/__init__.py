"""Pilothouse: a serverless control plane for deploying and operating multi-component systems."""

__version__ = "0.1.0"
