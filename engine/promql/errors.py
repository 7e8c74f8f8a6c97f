"""The one exception the query engine raises, typed like Prometheus's API errors."""

from __future__ import annotations

BAD_DATA = "bad_data"
EXECUTION = "execution"
TIMEOUT = "timeout"
CANCELED = "canceled"


class QueryError(Exception):
    """A query that cannot be answered.

    ``error_type`` is the Prometheus API ``errorType``: ``bad_data`` for parse and validation
    problems, ``execution`` for evaluation failures (too many samples included), ``timeout``,
    ``canceled`` (the server shuts down).
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def unsupported(message: str) -> QueryError:
    return QueryError(BAD_DATA, message)


def execution(message: str) -> QueryError:
    return QueryError(EXECUTION, message)


TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"
DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"
