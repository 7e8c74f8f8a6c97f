"""Settings: every source, their precedence, and a one-line error naming every wrong value."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from engine.settings import Settings, SettingsError, load_settings, parse_duration, redact_uris

DURATIONS = ("METRICS_TTL", "ALERTS_TTL", "HEALTH_CHECKS_TTL", "COLLECTION_INTERVAL", "FLUSH_INTERVAL",
             "HEAD_RETENTION", "LOOKBACK_DELTA", "EVALUATION_INTERVAL", "QUERY_TIMEOUT")


def load(env=None, **kw) -> Settings:
    """Settings from exactly this env (no .env unless given), with a data dir so nothing reads $HOME."""
    kw.setdefault("dotenv_path", None)
    return load_settings(env={"DATA_DIR": "/srv/metrics", **(env or {})}, **kw)


def load_error(env=None, **kw) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        load(env, **kw)
    return info.value


def assert_one_line_naming(exc: SettingsError, name: str) -> None:
    message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"{name}: "), message
    assert exc.setting == name


# -- defaults -------------------------------------------------------------------------------------


def test_defaults():
    s = load()
    assert (s.port, s.host, s.service_name) == (3000, "127.0.0.1", "metrics-service")
    assert (s.metrics_ttl, s.alerts_ttl, s.health_checks_ttl) == (2592000.0, 7776000.0, 2592000.0)
    assert (s.collection_interval, s.flush_interval, s.head_retention) == (5.0, 10.0, 7200.0)
    assert (s.lookback_delta, s.evaluation_interval) == (300.0, 10.0)
    assert (s.query_max_samples, s.query_timeout) == (50_000_000, 120.0)
    assert (s.log_level, s.mongodb_uri, s.redis_url, s.rules_files) == ("info", None, None, ())
    assert s.data_dir == Path("/srv/metrics")


def test_data_dir_defaults_to_xdg_data_home():
    s = load_settings(env={"XDG_DATA_HOME": "/xdg/data"}, dotenv_path=None)
    assert s.data_dir == Path("/xdg/data/metrics-service")


def test_data_dir_defaults_to_local_share_without_xdg_or_with_a_relative_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "metrics-service"
    assert load_settings(env={}, dotenv_path=None).data_dir == expected
    assert load_settings(env={"XDG_DATA_HOME": "relative/dir"}, dotenv_path=None).data_dir == expected


def test_data_dir_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load({"DATA_DIR": "~/metrics"}).data_dir == tmp_path / "metrics"


# -- bad values -----------------------------------------------------------------------------------


BAD_VALUES = [
    ("PORT", "abc"), ("PORT", "70000"), ("PORT", "65536"), ("PORT", "-1"), ("PORT", "3000.5"), ("PORT", ""),
    ("LOG_LEVEL", "loud"), ("LOG_LEVEL", ""), ("LOG_LEVEL", "critical"),
    ("HOST", ""), ("HOST", "   "), ("SERVICE_NAME", ""), ("DATA_DIR", ""),
    ("MONGODB_URI", "localhost:27017"), ("MONGODB_URI", "http://db/x"),
    ("REDIS_URL", "localhost:6379"), ("REDIS_URL", "mongodb://x"),
    ("QUERY_MAX_SAMPLES", "0"), ("QUERY_MAX_SAMPLES", "-5"), ("QUERY_MAX_SAMPLES", "1e6"),
    ("QUERY_MAX_SAMPLES", "lots"), ("QUERY_MAX_SAMPLES", ""),
] + [(name, bad) for name in DURATIONS for bad in
     ("-1", "0", "0s", "nan", "inf", "-inf", "abc", "", "5 m", "1m1h", "1.5h", "-5m", "1e400", "200y")]


@pytest.mark.parametrize("name,value", BAD_VALUES)
def test_every_bad_value_names_its_setting_in_one_line(name, value):
    assert_one_line_naming(load_error({name: value}), name)


def test_messages_say_what_is_wrong():
    assert str(load_error({"PORT": "abc"})) == "PORT: 'abc' is not an integer between 0 and 65535"
    assert str(load_error({"COLLECTION_INTERVAL": "-1"})) == (
        "COLLECTION_INTERVAL: must be greater than zero, got '-1'")
    assert "'nan' is not a duration" in str(load_error({"COLLECTION_INTERVAL": "nan"}))
    assert str(load_error({"LOG_LEVEL": "loud"})) == (
        "LOG_LEVEL: 'loud' is not one of debug, info, warning, error")


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_a_bad_uri_is_reported_without_its_password():
    message = str(load_error({"MONGODB_URI": "http://admin:hunter2@db/x"}))
    assert "MONGODB_URI" in message and "hunter2" not in message


# -- good values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["0", "1", "3000", "65535", " 8080 "])
def test_port_range_includes_zero_for_an_ephemeral_port(port):
    assert load({"PORT": port}).port == int(port)


@pytest.mark.parametrize("value,seconds", [
    ("0.5", 0.5), (".25", 0.25), ("5", 5.0), ("1e3", 1000.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0),
    ("2d", 172800.0), ("1w", 604800.0), ("500ms", 0.5), ("1m30s500ms", 90.5),
])
@pytest.mark.parametrize("name", DURATIONS)
def test_durations_accept_fractions_and_prometheus_durations(name, value, seconds):
    assert getattr(load({name: value}), name.lower()) == pytest.approx(seconds)


@pytest.mark.parametrize("value,level", [("DEBUG", "debug"), ("Info", "info"), ("warn", "warning"),
                                         ("WARNING", "warning"), (" error ", "error")])
def test_log_level_is_case_insensitive_and_normalised(value, level):
    assert load({"LOG_LEVEL": value}).log_level == level


def test_query_max_samples_is_a_positive_integer():
    assert load({"QUERY_MAX_SAMPLES": " 1000 "}).query_max_samples == 1000
    assert str(load_error({"QUERY_MAX_SAMPLES": "0"})) == "QUERY_MAX_SAMPLES: '0' is not a positive integer"


def test_rules_files_are_comma_separated_globs():
    assert load({"RULES_FILES": "rules.yaml, rules.d/*.yml ,"}).rules_files == ("rules.yaml", "rules.d/*.yml")
    assert load({"RULES_FILES": ""}).rules_files == ()


def test_empty_uri_means_not_used():
    s = load({"MONGODB_URI": "", "REDIS_URL": ""})
    assert s.mongodb_uri is None and s.redis_url is None


def test_uris_are_kept_as_given():
    s = load({"MONGODB_URI": "mongodb+srv://u:p@cluster/db", "REDIS_URL": "rediss://:p@cache:6380/1"})
    assert s.mongodb_uri == "mongodb+srv://u:p@cluster/db" and s.redis_url == "rediss://:p@cache:6380/1"


# -- parse_duration -------------------------------------------------------------------------------


@pytest.mark.parametrize("text,seconds", [
    ("0", 0.0), ("15", 15.0), ("-1", -1.0), ("0.001", 0.001), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
    ("1h30m", 5400.0), ("2d", 172800.0), ("1y", 31536000.0), ("500ms", 0.5), (" 10s ", 10.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", " ", "abc", "5x", "1m1h", "1.5h", "5 m", "-5m", "nan", "inf", "1e400",
                                  "\u0663", "1_000", "s"])
def test_parse_duration_rejects_with_a_message_quoting_the_input(text):
    with pytest.raises(ValueError, match="is not a duration|too large") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


# -- sources and precedence -----------------------------------------------------------------------


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_precedence_yaml_then_dotenv_then_env_then_overrides(tmp_path):
    config = write(tmp_path / "config.yaml",
                   "port: 1001\nhost: yaml.host\nservice_name: from-yaml\nLOG_LEVEL: debug\n")
    dotenv = write(tmp_path / ".env", "PORT=1002\nHOST=dotenv.host\nSERVICE_NAME=from-dotenv\n")
    env = {"DATA_DIR": str(tmp_path), "PORT": "1003", "HOST": "env.host"}

    def port_host_name(**kw):
        s = load_settings(**{"env": env, "config_file": config, "dotenv_path": dotenv, **kw})
        assert s.log_level == "debug"  # only the YAML file sets it, so it survives every layer above
        return s.port, s.host, s.service_name

    assert port_host_name(overrides={"port": 1004, "host": None}) == (1004, "env.host", "from-dotenv")
    assert port_host_name() == (1003, "env.host", "from-dotenv")
    env = {"DATA_DIR": str(tmp_path)}
    assert port_host_name() == (1002, "dotenv.host", "from-dotenv")
    assert port_host_name(dotenv_path=None) == (1001, "yaml.host", "from-yaml")


def test_config_file_from_environment(tmp_path):
    config = write(tmp_path / "c.yaml", "PORT: 4000\nRULES_FILES: [rules.yaml, 'more/*.yml']\n")
    s = load({"METRICS_SERVICE_CONFIG": config})
    assert s.port == 4000 and s.rules_files == ("rules.yaml", "more/*.yml")


def test_config_file_argument_beats_the_environment_variable(tmp_path):
    chosen = write(tmp_path / "a.yaml", "port: 1\n")
    write(tmp_path / "b.yaml", "port: 2\n")
    assert load({"METRICS_SERVICE_CONFIG": str(tmp_path / "b.yaml")}, config_file=chosen).port == 1


def test_yaml_values_may_be_typed_or_strings(tmp_path):
    config = write(tmp_path / "c.yaml",
                   "port: '3001'\ncollection_interval: 0.5\nmetrics_ttl: 7d\nalerts_ttl: 60\n")
    s = load(config_file=config)
    assert (s.port, s.collection_interval, s.metrics_ttl, s.alerts_ttl) == (3001, 0.5, 604800.0, 60.0)


def test_empty_config_file_sets_nothing(tmp_path):
    assert load(config_file=write(tmp_path / "c.yaml", "# nothing yet\n")).port == 3000


@pytest.mark.parametrize("text,expected", [
    ("prot: 3000\n", ["'prot'", "did you mean port?"]),
    ("port: 1\nPORT: 2\n", ["PORT is given twice"]),
    ("port: [1\n", ["invalid YAML at line"]),
    ("- port\n- host\n", ["expected a mapping", "list"]),
    ("just a string\n", ["expected a mapping", "str"]),
    ("1: 2\n", ["unknown setting 1"]),
])
def test_a_bad_config_file_is_named_with_the_problem(tmp_path, text, expected):
    config = write(tmp_path / "c.yaml", text)
    message = str(load_error(config_file=config))
    assert "\n" not in message and config in message
    for part in expected:
        assert part in message


def test_bad_value_in_yaml_names_setting_and_file(tmp_path):
    config = write(tmp_path / "c.yaml", "collection_interval: -1\n")
    exc = load_error(config_file=config)
    assert_one_line_naming(exc, "COLLECTION_INTERVAL")
    assert config in str(exc)


@pytest.mark.parametrize("text,name", [
    ("port: true\n", "PORT"), ("port: 3000.0\n", "PORT"), ("host: 12\n", "HOST"), ("host:\n", "HOST"),
    ("flush_interval: .nan\n", "FLUSH_INTERVAL"), ("rules_files: [1, 2]\n", "RULES_FILES"),
    ("rules_files: {a: b}\n", "RULES_FILES"), ("log_level: 3\n", "LOG_LEVEL"),
])
def test_wrongly_typed_yaml_values_are_rejected(tmp_path, text, name):
    assert_one_line_naming(load_error(config_file=write(tmp_path / "c.yaml", text)), name)


def test_missing_config_file_is_an_error_whoever_names_it(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    assert f"config file {missing}: no such file" == str(load_error(config_file=missing))
    assert missing in str(load_error({"METRICS_SERVICE_CONFIG": missing}))


def test_config_file_that_is_a_directory(tmp_path):
    assert str(tmp_path) in str(load_error(config_file=str(tmp_path)))


def test_dotenv_syntax(tmp_path):
    dotenv = write(tmp_path / ".env", "\n".join([
        "# a comment",
        "",
        "export PORT=3100",
        "HOST = '0.0.0.0'  # single quotes are literal",
        'SERVICE_NAME="booking api"',
        "MONGODB_URI=mongodb://u:p#1@db/x # inline comment after a space",
        'REDIS_URL="redis://:a\\"b@cache:6379/0"',
        "OTHER_APP_SETTING=ignored",
    ]))
    s = load(dotenv_path=dotenv)
    assert (s.port, s.host, s.service_name) == (3100, "0.0.0.0", "booking api")
    assert s.mongodb_uri == "mongodb://u:p#1@db/x"
    assert s.redis_url == 'redis://:a"b@cache:6379/0'


def test_dotenv_can_name_the_config_file_and_xdg_dir(tmp_path):
    config = write(tmp_path / "c.yaml", "port: 3200\n")
    dotenv = write(tmp_path / ".env", f"METRICS_SERVICE_CONFIG={config}\nXDG_DATA_HOME={tmp_path}\n")
    s = load_settings(env={}, dotenv_path=dotenv)
    assert s.port == 3200 and s.data_dir == tmp_path / "metrics-service"


def test_missing_dotenv_is_fine(tmp_path):
    assert load(dotenv_path=str(tmp_path / ".env")).port == 3000


@pytest.mark.parametrize("line", ["PORT", "1PORT=3", "MONGODB_URI='mongodb://u:secret@db", 'HOST="a" b'])
def test_malformed_dotenv_line_is_reported_by_file_and_line_without_echoing_it(tmp_path, line):
    dotenv = write(tmp_path / ".env", f"HOST=ok\n{line}\n")
    message = str(load_error(dotenv_path=dotenv))
    assert f"{dotenv}, line 2" in message and "secret" not in message and "\n" not in message


def test_bad_value_in_dotenv_names_setting_and_file(tmp_path):
    dotenv = write(tmp_path / ".env", "PORT=abc\n")
    exc = load_error(dotenv_path=dotenv)
    assert_one_line_naming(exc, "PORT")
    assert dotenv in str(exc)


def test_overrides_ignore_none_and_reject_unknown_names():
    assert load(overrides={"port": None, "data_dir": "/override"}).data_dir == Path("/override")
    assert "'colour'" in str(load_error(overrides={"colour": "blue"}))


def test_bad_override_names_setting_and_option():
    exc = load_error(overrides={"port": 70000})
    assert_one_line_naming(exc, "PORT")
    assert "--port" in str(exc)


# -- the Settings object --------------------------------------------------------------------------


def test_settings_are_frozen_and_replace_is_validated():
    s = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]
    assert dataclasses.replace(s, port=0, log_level="WARN").log_level == "warning"
    with pytest.raises(SettingsError, match="^PORT: "):
        dataclasses.replace(s, port=70000)


def test_direct_construction_normalises_types():
    s = Settings(data_dir="~/x", rules_files=["a"], collection_interval="250ms")  # type: ignore[arg-type]
    assert isinstance(s.data_dir, Path) and s.rules_files == ("a",) and s.collection_interval == 0.25


def test_redacted_is_json_safe_and_hides_uri_passwords():
    s = load({"MONGODB_URI": "mongodb://user:hunter2@db1:27017,db2/app", "REDIS_URL": "redis://:s3cret@cache:6379/0",
              "RULES_FILES": "a.yaml"})
    out = s.redacted()
    text = json.dumps(out)
    assert "hunter2" not in text and "s3cret" not in text
    assert out["mongodb_uri"] == "mongodb://user:***@db1:27017,db2/app"
    assert out["redis_url"] == "redis://:***@cache:6379/0"
    assert out["data_dir"] == "/srv/metrics" and out["rules_files"] == ["a.yaml"] and out["port"] == 3000
    assert set(out) == {f.name for f in dataclasses.fields(Settings)}


@pytest.mark.parametrize("text,expected", [
    ("mongodb://user:pw@host/db", "mongodb://user:***@host/db"),
    ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://u:p@ss@host/0", "redis://u:***@host/0"),  # an unencoded "@" in the password
    ("mongodb://user@host/db", "mongodb://user@host/db"),  # no password: nothing to hide
    ("http://host:8080/a@b", "http://host:8080/a@b"),
    ("a amqp://g:x@h b smtp://u:y@mail", "a amqp://g:***@h b smtp://u:***@mail"),
])
def test_redact_uris(text, expected):
    assert redact_uris(text) == expected


def test_leader_lease_is_a_duration_of_at_least_a_second():
    assert load({"LEADER_LEASE": "20s"}).leader_lease == 20
    assert_one_line_naming(load_error({"LEADER_LEASE": "500ms"}), "LEADER_LEASE")
