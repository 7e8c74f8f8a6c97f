"""Errors raised by template parsing and execution, worded as Go's."""


class TemplateError(ValueError):
    """A template that does not parse, e.g. ``template: __alert_X:1: function "nope" not defined``."""


class ExecError(TemplateError):
    """A template that fails while executing; the message has Go's ``executing ... at <...>`` context."""


class TemplateLimitError(ExecError):
    """An expansion stopped by its output or step budget (limits.py), not by Go semantics.

    ``expand`` re-raises it with ``value`` set to the short error text that stands in for the
    expansion, so a rule can both store that text and report the problem as its lastError."""

    value: str = ""
