"""PromQL evaluation over the time-series store, with Prometheus's semantics.

Parsing is done by the ``promql-parser`` package; evaluation, functions, aggregations and vector
matching are implemented here. Unsupported features are rejected with ``QueryError(bad_data)``.
"""

from engine.promql.errors import QueryError
from engine.promql.evaluator import QueryEngine
from engine.promql.values import QueryResult, Sample, Series

__all__ = ["QueryEngine", "QueryError", "QueryResult", "Sample", "Series"]
