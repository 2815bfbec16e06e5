"""Fixtures the store-backed contract tests share."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dynamodb_endpoint():
    """One moto server (a subprocess on 127.0.0.1) for a module's DynamoDB stores (the store
    contract keeps one for the whole session)."""
    from tests.support.moto_server import MotoServer

    with MotoServer() as server:
        yield server.url
