"""The public face of the package: parse once at rule load, render per evaluation.

Prometheus expands every alert label and annotation as a Go text/template with
a fixed prelude of variable definitions; :func:`parse_template` adds the same
prelude so variables resolve, and so error positions match Prometheus's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ExecError, TemplateError, TemplateLimitError
from .exec import execute
from .funcs import BUILTINS
from .nodes import ListNode
from .parser import Parser
from .promfuncs import PROMETHEUS_FUNCS
from .values import GoMap, GoStruct

PRELUDE = ("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
           "{{$externalURL := .ExternalURL}}{{$value := .Value}}")
FUNCTION_NAMES = frozenset(BUILTINS) | frozenset(PROMETHEUS_FUNCS)
_DATA_TYPE = ("struct { Labels map[string]string; ExternalLabels map[string]string; "
              "ExternalURL string; Value float64 }")


@dataclass(frozen=True)
class QuerySample:
    """One element of an instant vector, as the ``query`` function returns it."""

    labels: dict[str, str]
    value: float


@dataclass
class TemplateData:
    """What an alert template sees: the alert's sample labels and value, plus the server's external labels/URL.

    ``query`` runs PromQL at the evaluation time and is what ``{{ query "..." }}`` calls;
    its exceptions surface as Prometheus's ``error calling query: <message>``.
    """

    labels: dict[str, str]
    value: float
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    query: Callable[[str], list[QuerySample]] | None = None

    def as_go(self) -> GoStruct:
        """The struct Prometheus passes as dot."""
        return GoStruct(_DATA_TYPE, {
            "Labels": GoMap(self.labels),
            "ExternalLabels": GoMap(self.external_labels),
            "ExternalURL": self.external_url,
            "Value": float(self.value),
        })


class Template:
    """A parsed alert template; render it once per alert and evaluation."""

    def __init__(self, name: str, text: str, trees: dict[str, ListNode]) -> None:
        self.name = name
        self.text = text
        self._source = PRELUDE + text
        self._trees = trees

    def render(self, data: TemplateData) -> str:
        """Expand the template; raises ExecError (a TemplateError) worded as Go's when execution fails."""
        return execute(self._trees, self.name, self._source, data.as_go(), data)


def parse_template(text: str, name: str = "") -> Template:
    """Parse an alert label/annotation template as Prometheus does at rule load; raises TemplateError.

    Prometheus names templates ``__alert_<alertname>``; pass that as ``name`` for identical messages.
    """
    trees: dict[str, ListNode] = {}
    Parser(name, PRELUDE + text, set(FUNCTION_NAMES), trees).parse()
    return Template(name, text, trees)


def expand(text: str, data: TemplateData, name: str = "") -> str:
    """What Prometheus's rule evaluation does with a label or annotation template: the expansion,
    or ``<error expanding template: ...>`` when it fails to parse or execute.

    An expansion over its budget (limits.py) raises TemplateLimitError with that text as ``value``:
    Prometheus has no such limit, so the caller also reports it (the rule's lastError)."""
    try:
        template = parse_template(text, name)
    except TemplateError as e:
        return f"<error expanding template: error parsing template {name}: {e}>"
    try:
        return template.render(data)
    except ExecError as e:
        value = f"<error expanding template: error executing template {name}: {e}>"
        if isinstance(e, TemplateLimitError):
            e.value = value
            raise
        return value
