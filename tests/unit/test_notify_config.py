"""The ``notifications`` section: the issue's example as written, refusals naming the field, secrets
never shown, the seed's variables filling channels."""

from __future__ import annotations

import pytest

from engine.notify.config import env_channels, parse_channel, with_defaults
from engine.settings import SettingsError, load_settings

EXAMPLE = """
notifications: {channels: [{name: ops-hook, type: webhook, url: "http://127.0.0.1:9000/hook", secret: "s3cret"},
  {name: am, type: alertmanager, url: "http://127.0.0.1:9093"}], route: {receiver: ops-hook, group_by: [alertname],
  group_wait: 0s, group_interval: 1s, routes: [{receiver: am, matchers: ['severity=~"critical|warning"'],
  continue: true}]}}
"""


def load(tmp_path, text, **env):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_settings(env={"DATA_DIR": str(tmp_path), **env}, config_file=str(path), dotenv_path=None)


def test_the_issue_example_loads_as_written(tmp_path):
    cfg = load(tmp_path, EXAMPLE).notifications
    assert [(c.name, c.type) for c in cfg.channels] == [("ops-hook", "webhook"), ("am", "alertmanager")]
    assert cfg.route.receiver == "ops-hook" and cfg.route.group_wait == 0 and cfg.route.group_interval == 1
    (child,) = cfg.route.routes
    assert child.continue_ and [str(m) for m in child.matchers] == ['severity=~"critical|warning"']


@pytest.mark.parametrize(("text", "named"), [
    ("notifications: {channels: [{name: a, type: alertmanager}]}", "channels[0].url"),
    ("notifications: {channels: [{name: a, type: webhook, url: 'http://x/', retries: 3}]}", "channels[0].retries"),
    ("notifications: {route: {group_wait: soon}}", "route.group_wait"),
    ("notifications: {route: {routes: [{matchers: ['sev=~\"(\"']}]}}", "route.routes[0].matchers[0]"),
    ("notifications: {route: {group_by: ['a-b']}}", "route.group_by[0]"),
    ("notifications: {inhibit_rules: [{source_matchers: [a=b]}]}", "inhibit_rules[0]"),
    ("notifications: {channels: [{name: a, type: slack, url: 'http://x/'}, {name: a, type: webhook, url: 'http://x/'}]}",
     "channels[1].name"),
    ("notifications: {routes: []}", "routes"),
])
def test_a_wrong_section_stops_start_up_naming_the_field(tmp_path, text, named):
    with pytest.raises(SettingsError) as err:
        load(tmp_path, text)
    assert str(err.value).startswith(f"NOTIFICATIONS: {named}")
    assert "\n" not in str(err.value)


def test_secrets_are_never_shown(tmp_path):
    settings = load(tmp_path, EXAMPLE, SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T/B/xyz",
                    EMAIL_PASSWORD="pa55", WEBHOOK_SECRET="w")
    shown = str(settings.redacted())
    assert "s3cret" not in shown and "xyz" not in shown and "pa55" not in shown
    assert settings.redacted()["email_password"] == "***"
    (hook, _) = settings.notifications.channels
    assert hook.public()["secrets"] == {"secret": True} and "secret" not in hook.public()["settings"]


def test_the_seed_variables_fill_channels_and_make_default_ones():
    env = {"email_smtp_host": "smtp.example.com", "email_smtp_port": "587", "email_from": "a@example.com",
           "email_to": "b@example.com", "email_password": "pa55", "slack_webhook_url": "https://hooks.slack.com/x"}
    mail = with_defaults(parse_channel({"name": "mail", "type": "email"}, "c", env_later=True), env)
    assert mail.settings["host"] == "smtp.example.com" and mail.settings["port"] == 587
    assert mail.settings["tls"] == "starttls" and mail.settings["password"] == "pa55"
    made = env_channels(env, {"mail"})
    assert [(c.name, c.type, c.source) for c in made] == [("slack", "slack", "env"), ("email", "email", "env")]
