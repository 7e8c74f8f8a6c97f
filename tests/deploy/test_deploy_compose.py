"""docker-compose.yml and deploy/'s configs: valid for their own tools, and agreeing with the server.

The containers are not started (images cannot be pulled here). Each file is checked by the real
tool that reads it when installed (docker-compose, haproxy, promtool, amtool), and every name, port
and path that one file takes from another is compared with it and with the settings the server reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from engine.settings import load_settings
from tests.conftest import promtool_path
from tests.deploy.files import (
    CLI,
    DEPLOY,
    ROOT,
    SETTING_NAMES,
    bind_mounts,
    compose,
    container_env,
    dockerfile,
    replica_services,
    start_server,
    wait_live,
)

SECRETS = {"JWT_SECRET": "j" * 32, "SECRETS_KEY": "s" * 32}


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package '{package}'; .ci/run installs it)")
    return path


def image_settings() -> dict[str, str]:
    return {k: v for k, v in dockerfile()[-1].env().items() if k in SETTING_NAMES}


def replica_env(service: dict) -> dict[str, str]:
    """The replica's environment as the container sees it: the image's, then compose's, secrets given."""
    env = {**image_settings(), **{k: str(v) for k, v in service["environment"].items()}}
    return {k: SECRETS.get(k, v) for k, v in env.items()}


def test_compose_validates_and_wants_the_secrets(tmp_path):
    docker_compose = tool("docker-compose", "docker-compose")
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    command = [docker_compose, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"]
    ok = subprocess.run(command, env={**base, **SECRETS}, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(command, env={**base, "SECRETS_KEY": "s" * 32}, capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert missing.returncode != 0 and "JWT_SECRET" in missing.stderr


def test_three_replicas_whose_environment_config_and_volume_the_server_accepts():
    spec = compose()
    replicas = replica_services(spec)
    assert len(replicas) == 3
    for name, service in replicas.items():
        assert set(service["environment"]) <= SETTING_NAMES, set(service["environment"]) - SETTING_NAMES
        env = replica_env(service)
        config = bind_mounts(service)[env["METRICS_SERVICE_CONFIG"]]
        settings = load_settings(env={**env, "METRICS_SERVICE_CONFIG": str(config)}, dotenv_path=None)
        assert settings.redis_url and urlsplit(settings.redis_url).hostname in spec["services"]
        assert urlsplit(settings.mongodb_uri).hostname in spec["services"]
        assert service["expose"] == [str(settings.port)]
        assert not settings.metrics_auth, "deploy/prometheus.yml scrapes /metrics without credentials"
        assert f"{name}-data:{settings.data_dir}" in service["volumes"], "each replica keeps its data in a volume"
        assert f"{name}-data" in spec["volumes"]
        for channel in settings.notifications.channels:
            host, port = urlsplit(channel.settings["url"]).hostname, urlsplit(channel.settings["url"]).port
            assert host in spec["services"] and f"{port}:{port}" in spec["services"][host]["ports"]


def test_every_bind_mount_exists():
    for name, service in compose()["services"].items():
        for target, source in bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def haproxy_servers() -> dict[str, str]:
    text = (DEPLOY / "haproxy.cfg").read_text()
    return dict(re.findall(r"^\s*server\s+\S+\s+([\w-]+):(\d+)", text, re.M))


def test_the_load_balancer_sends_to_every_replica_on_the_servers_port_when_ready(tmp_path):
    spec = compose()
    port = str(load_settings(env={**image_settings(), **SECRETS}, dotenv_path=None).port)
    assert haproxy_servers() == {name: port for name in replica_services(spec)}
    text = (DEPLOY / "haproxy.cfg").read_text()
    assert re.search(r"option httpchk GET /readyz\b", text)
    bind = re.search(r"^\s*bind :(\d+)", text, re.M)[1]
    assert f"{bind}:{bind}" in spec["services"]["lb"]["ports"]
    haproxy = tool("haproxy", "haproxy")
    check = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
    assert check.returncode == 0 and "Configuration file is valid" in check.stdout + check.stderr, check.stderr


def test_prometheus_scrapes_every_replica_and_its_config_and_rules_are_valid():
    spec = compose()
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "metrics-service")
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    port = str(load_settings(env={**image_settings(), **SECRETS}, dotenv_path=None).port)
    assert sorted(targets) == sorted(f"{name}:{port}" for name in replica_services(spec))
    assert job["metrics_path"] == "/metrics"
    mounts = bind_mounts(spec["services"]["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"] == DEPLOY / "prometheus.yml"
    for rule_file in config["rule_files"]:
        assert mounts[f"/etc/prometheus/{rule_file}"] == DEPLOY / rule_file
    for target in config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]:
        host, _, am_port = target.partition(":")
        assert f"{am_port}:{am_port}" in spec["services"][host]["ports"]
    check = subprocess.run([promtool_path(), "check", "config", str(DEPLOY / "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 2 rules found" in check.stdout, check.stdout + check.stderr


def test_alertmanager_config_is_valid():
    amtool = tool("amtool", "prometheus-alertmanager")
    mounts = bind_mounts(compose()["services"]["alertmanager"])
    assert mounts["/etc/alertmanager/alertmanager.yml"] == DEPLOY / "alertmanager.yml"
    check = subprocess.run([amtool, "check-config", str(DEPLOY / "alertmanager.yml")], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr


def test_grafana_gets_the_four_dashboards_and_our_server_as_its_data_source():
    spec = compose()
    grafana = spec["services"]["grafana"]
    mounts = bind_mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "metrics-service.yaml").read_text())["providers"]
    folder = mounts[providers[0]["options"]["path"]]
    dashboards = sorted(folder.glob("*.json"))
    assert len(dashboards) == 4 and all(json.loads(d.read_text())["uid"] for d in dashboards)
    sources = yaml.safe_load((provisioning / "datasources" / "metrics-service.yaml").read_text())["datasources"]
    ours = next(s for s in sources if s["isDefault"])
    url = urlsplit(ours["url"])
    assert ours["type"] == "prometheus" and url.hostname == "lb"
    assert f"{url.port}:{url.port}" in spec["services"]["lb"]["ports"]
    token_var = re.fullmatch(r"Bearer \$\{(\w+)\}", ours["secureJsonData"]["httpHeaderValue1"])[1]
    assert token_var in grafana["environment"], "Grafana expands the token from its own environment"
    prometheus = next(s for s in sources if not s.get("isDefault"))
    host, port = urlsplit(prometheus["url"]).hostname, urlsplit(prometheus["url"]).port
    assert f"{port}:{port}" in spec["services"][host]["ports"]


def test_grafanas_data_source_queries_a_real_server_with_a_token_from_the_readmes_command(tmp_path):
    """Grafana's request, as provisioned (POST form, the Authorization header with the token that
    `metrics-service token create --role viewer --sub grafana` prints), against the image's settings."""
    provisioning = bind_mounts(compose()["services"]["grafana"])["/etc/grafana/provisioning"]
    sources = yaml.safe_load((provisioning / "datasources" / "metrics-service.yaml").read_text())["datasources"]
    ours = next(s for s in sources if s["isDefault"])
    assert ours["jsonData"]["httpMethod"] == "POST"
    env = container_env(tmp_path, **SECRETS)
    created = subprocess.run([*CLI, "token", "create", "--role", "viewer", "--sub", "grafana", "--ttl", "8760h"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    token_var = re.fullmatch(r"Bearer \$\{(\w+)\}", ours["secureJsonData"]["httpHeaderValue1"])[1]
    header = {ours["jsonData"]["httpHeaderName1"]:
              ours["secureJsonData"]["httpHeaderValue1"].replace(f"${{{token_var}}}", created.stdout.strip())}
    proc = start_server(env)
    try:
        wait_live(proc, env)
        url = f"http://127.0.0.1:{env['PORT']}/api/v1/query"
        answer = httpx.post(url, data={"query": "vector(1)"}, headers=header, timeout=60)
        assert answer.status_code == 200 and answer.json()["status"] == "success", answer.text
        assert httpx.post(url, data={"query": "vector(1)"}, timeout=60).status_code == 401
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
