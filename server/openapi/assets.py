"""Swagger UI's files, served from the swagger-ui-py package's copy of Swagger UI 5 (OpenAPI 3.1 support;
swagger-ui-bundle's 4.15 cannot render a 3.1 document), so /api-docs needs no CDN."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

INIT_JS = """window.ui = SwaggerUIBundle({
  url: "api-docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""
"""Swagger UI's start, as a file of ours: the page then needs no inline script (a strict CSP holds)."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>metrics-service API</title>
<link rel="stylesheet" href="api-docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="api-docs/assets/swagger-ui-bundle.js"></script>
<script src="api-docs/assets/init.js"></script>
</body>
</html>
"""
"""Relative links: the page at /api-docs reaches /api-docs/..., behind a proxy's path prefix too."""

ASSETS: dict[str, str] = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "init.js": "text/javascript",
}
"""The files /api-docs/assets/{asset} serves, with their media types."""


def _static_dir() -> Path:
    """swagger_ui/static, found without importing swagger_ui (its __init__ pulls in Jinja2 for
    framework integrations we do not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@functools.cache
def asset(name: str) -> bytes:
    """One asset's bytes (read once, then kept: 1.5 MB in all)."""
    if name == "init.js":
        return INIT_JS.encode()
    return (_static_dir() / name).read_bytes()
