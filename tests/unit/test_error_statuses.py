"""The status each exception is answered with (server/errors.py), which the audit log records too:
a refusal for want of Redis or MongoDB is 503 in both, never a 500 in the log."""

from __future__ import annotations

import pytest
from aiohttp import web

from engine.cluster.alertstore import AlertStateUnavailable
from engine.cluster.shared import SharedStateUnavailable
from engine.datadir import StorageFullError
from engine.tsdb.mongo import MongoUnavailable
from server.errors import ApiError, status_for


@pytest.mark.parametrize(("exc", "status"), [
    (MongoUnavailable("MongoDB does not answer"), 503),
    (AlertStateUnavailable("Redis does not answer"), 503),
    (SharedStateUnavailable("Redis does not answer"), 503),
    (StorageFullError("disk full"), 507),
    (ApiError(409, "duplicate_check", "exists"), 409),
    (web.HTTPNotFound(), 404),
    (KeyError("a bug"), 500),
])
def test_each_error_has_the_status_the_client_and_the_audit_get(exc, status):
    assert status_for(exc) == status
