"""Benchmarks print figures (run `make bench` to see them); they assert behaviour, never times."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "benchmarks" in str(item.fspath):
            item.add_marker(pytest.mark.benchmark)
