"""scrape_configs: defaults as Prometheus's, and every refusal names its field; each refused config
is also refused by the real ``promtool check config`` (Prometheus 2.42), so the two agree."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from engine.scrape.config import ConfigError, parse_scrape_configs, resolve
from engine.settings import SettingsError, load_settings
from tests.conftest import promtool_path


def test_defaults_follow_prometheus():
    (job,) = resolve(parse_scrape_configs([{"job_name": "a", "static_configs": [{"targets": ["h:1"]}]}]), 60, 10)
    assert (job.scrape_interval, job.scrape_timeout, job.metrics_path, job.scheme) == (60, 10, "/metrics", "http")
    assert (job.honor_labels, job.honor_timestamps, job.sample_limit, job.label_limit) == (False, True, 0, 0)
    (short,) = resolve(parse_scrape_configs([{"job_name": "a", "scrape_interval": "5s"}]), 60, 10)
    assert short.scrape_timeout == 5  # the global timeout is cut to a shorter job interval
    relabel = parse_scrape_configs([{"job_name": "a", "relabel_configs": [{"target_label": "x"}]}])[0]
    step = relabel.relabel_configs[0]
    assert (step.action, step.separator, step.regex_text, step.replacement) == ("replace", ";", "(.*)", "$1")


BAD = [
    ({"job_name": "a", "relabel_configs": [{"action": "hashmod", "source_labels": ["a"], "target_label": "b"}]},
     "scrape_configs[0].relabel_configs[0].modulus", "requires non-zero modulus"),
    ({"job_name": "a", "relabel_configs": [{"action": "replace", "source_labels": ["a"]}]},
     "scrape_configs[0].relabel_configs[0].target_label", "requires 'target_label'"),
    ({"job_name": "a", "relabel_configs": [{"action": "replace", "target_label": "1b"}]},
     "scrape_configs[0].relabel_configs[0].target_label", "is invalid 'target_label'"),
    ({"job_name": "a", "relabel_configs": [{"action": "bogus"}]},
     "scrape_configs[0].relabel_configs[0].action", "unknown relabel action"),
    ({"job_name": "a", "relabel_configs": [{"action": "labelmap", "replacement": "1$1"}]},
     "scrape_configs[0].relabel_configs[0].replacement", "invalid 'replacement'"),
    ({"job_name": "a", "relabel_configs": [{"action": "labeldrop", "regex": "x", "separator": ","}]},
     "scrape_configs[0].relabel_configs[0].separator", "requires only 'regex'"),
    ({"job_name": "a", "metric_relabel_configs": [{"regex": "(a", "target_label": "b"}]},
     "scrape_configs[0].metric_relabel_configs[0].regex", "missing closing )"),
    ({"job_name": "a", "scrape_interval": "10s", "scrape_timeout": "20s"},
     "scrape_configs[0].scrape_timeout", "scrape timeout greater than scrape interval"),
    ({"job_name": "a", "basic_auth": {"username": "u", "password": "p"}, "bearer_token": "t"},
     "scrape_configs[0].bearer_token", "at most one of basic_auth"),
    ({"job_name": "a", "static_configs": [{"targets": ["http://127.0.0.1:9/x"]}]},
     "scrape_configs[0].static_configs[0].targets[0]", "is not a valid hostname"),
    ({"job_name": "a", "scrape_intervall": "1m"}, "scrape_configs[0].scrape_intervall", "not found"),
    ({"job_name": "a", "sample_limit": -1}, "scrape_configs[0].sample_limit", "non-negative integer"),
]


@pytest.mark.parametrize(("job", "path", "problem"), BAD, ids=[b[1].rsplit(".", 1)[-1] + "-" + b[2][:20] for b in BAD])
def test_refusals_name_the_field_and_promtool_agrees(tmp_path, job, path, problem):
    with pytest.raises(ConfigError) as info:
        parse_scrape_configs([job])
    assert info.value.path == path
    assert problem in info.value.problem
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    run = subprocess.run([promtool_path(), "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr


def test_a_scheme_prometheus_only_refuses_at_scrape_time_is_refused_at_start():
    with pytest.raises(ConfigError, match=r"scrape_configs\[0\].scheme: 'ftp' is not http or https"):
        parse_scrape_configs([{"job_name": "a", "scheme": "ftp"}])


def test_duplicate_job_names_refused():
    with pytest.raises(ConfigError, match=r"scrape_configs\[1\].job_name: found multiple scrape configs"):
        parse_scrape_configs([{"job_name": "a"}, {"job_name": "a"}])


def test_global_timeout_over_job_interval_is_refused_at_settings_time(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"scrape_interval": "1m", "scrape_configs": [
        {"job_name": "a", "scrape_timeout": "2m"}]}))
    with pytest.raises(SettingsError) as info:
        load_settings(env={"DATA_DIR": str(tmp_path)}, config_file=str(config), dotenv_path=None)
    assert info.value.setting == "SCRAPE_CONFIGS"
    assert "scrape_configs[0].scrape_timeout" in str(info.value)
    assert str(config) in str(info.value)


def test_secrets_are_hidden_in_redacted_settings(tmp_path):
    settings = load_settings(env={"DATA_DIR": str(tmp_path), "SCRAPE_CONFIGS": yaml.safe_dump([
        {"job_name": "a", "basic_auth": {"username": "u", "password": "hunter2"}}])}, dotenv_path=None)
    shown = settings.redacted()["scrape_configs"]
    assert shown[0]["basic_auth"] == {"username": "u", "password": "<secret>"}
    assert "hunter2" not in repr(settings.scrape_configs)
