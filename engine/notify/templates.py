"""Message texts as Go templates (the project's engine/templating), with defaults that read well.

A template sees Alertmanager's notification data: ``.Status``, ``.Receiver``, ``.GroupLabels``,
``.CommonLabels``, ``.CommonAnnotations``, ``.ExternalURL`` and ``.Alerts`` (each with ``.Status``,
``.Labels``, ``.Annotations``, ``.StartsAt``, ``.EndsAt``, ``.GeneratorURL``, ``.Fingerprint``),
plus ``.Firing`` and ``.Resolved`` counts. Budgets are the templating package's (16 KiB output...).
"""

from __future__ import annotations

from engine.notify.model import Notification
from engine.templating import TemplateData, TemplateError
from engine.templating.exec import execute
from engine.templating.parser import Parser
from engine.templating.template import FUNCTION_NAMES
from engine.templating.values import GoMap, GoStruct, QueryResult
from engine.timefmt import rfc3339

TITLE = ('[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Firing }}{{ end }}] '
         '{{ .CommonLabels.alertname }}{{ if .GroupLabels.service }} ({{ .GroupLabels.service }}){{ end }}')
TEXT = ('{{ range .Alerts }}{{ if eq .Status "firing" }}🔥{{ else }}✅{{ end }} *{{ .Labels.alertname }}*'
        '{{ if .Labels.severity }} [{{ .Labels.severity }}]{{ end }}: '
        '{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Annotations.description }}{{ end }}\n'
        '{{ end }}')
HTML = ('<h3>{{ .Status | toUpper }}: {{ len .Alerts }} alert(s) for {{ .CommonLabels.alertname | html }}</h3>'
        '<table border="1" cellpadding="4"><tr><th>Status</th><th>Alert</th><th>Severity</th><th>Summary</th>'
        '<th>Since</th></tr>{{ range .Alerts }}<tr><td>{{ .Status }}</td><td>{{ .Labels.alertname | html }}</td>'
        '<td>{{ .Labels.severity | html }}</td><td>{{ .Annotations.summary | html }}</td>'
        '<td>{{ .StartsAt }}</td></tr>{{ end }}</table>'
        '{{ if .ExternalURL }}<p><a href="{{ .ExternalURL | html }}">{{ .ExternalURL | html }}</a></p>{{ end }}')


def check_template(text: str) -> str | None:
    """Why a message template does not parse, or None."""
    try:
        Parser("message", text, set(FUNCTION_NAMES), {}).parse()
    except TemplateError as exc:
        return f"invalid template: {exc}"
    return None


def render(text: str, n: Notification) -> str:
    """The template expanded for one notification; a failure yields the error text, never an exception
    (a message with a visible error beats no message)."""
    trees: dict = {}
    try:
        Parser("message", text, set(FUNCTION_NAMES), trees).parse()
        return execute(trees, "message", text, _data(n), TemplateData({}, 0.0, external_url=n.external_url))
    except TemplateError as exc:
        return f"<error expanding template: {exc}>"


def _data(n: Notification) -> GoStruct:
    alerts = QueryResult(GoStruct("template.Alert", {
        "Status": a.status, "Labels": GoMap(a.labels), "Annotations": GoMap(a.annotations),
        "StartsAt": rfc3339(a.starts_at), "EndsAt": "" if a.ends_at is None else rfc3339(a.ends_at),
        "GeneratorURL": n.generator_url(a), "Fingerprint": a.fingerprint}) for a in n.alerts)
    firing = sum(1 for a in n.alerts if a.status == "firing")
    return GoStruct("template.Data", {
        "Receiver": n.receiver, "Status": n.status, "Alerts": alerts, "GroupLabels": GoMap(n.group_labels),
        "CommonLabels": GoMap(n.common_labels()), "CommonAnnotations": GoMap(n.common_annotations()),
        "ExternalURL": n.external_url, "Firing": firing, "Resolved": len(n.alerts) - firing})
