"""Errors raised by template parsing and execution, worded as Go's."""


class TemplateError(ValueError):
    """A template that does not parse, e.g. ``template: __alert_X:1: function "nope" not defined``."""


class ExecError(TemplateError):
    """A template that fails while executing; the message has Go's ``executing ... at <...>`` context."""
