"""Pure models and rules: no I/O, and no import of anything else of Pilothouse."""
