"""Invoking Pilothouse functions by name: the port Task states use (:mod:`.base`)."""
