"""Typed application keys shared by handlers."""

from __future__ import annotations

from aiohttp import web

from engine.engine import Engine
from server.instrumentation import HttpMetrics

ENGINE = web.AppKey("engine", Engine)
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)
