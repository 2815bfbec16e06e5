"""The ASL workflows Pilothouse ships (``*.asl.json``) and transforms over definitions."""
