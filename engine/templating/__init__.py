"""Prometheus alert templating (Go text/template plus Prometheus's functions), as Prometheus 2.42 does it."""

from .errors import ExecError, TemplateError, TemplateLimitError
from .template import QuerySample, Template, TemplateData, expand, parse_template

__all__ = ["ExecError", "QuerySample", "Template", "TemplateData", "TemplateError", "TemplateLimitError", "expand",
           "parse_template"]
