"""deploy/k8s/: valid against the Kubernetes schemas, and agreeing with the image and the settings.

The built-in kinds are validated offline by kubernetes-validate (its bundled schemas, strict: unknown
fields fail). ServiceMonitor is prometheus-operator's CRD, whose schema is not bundled: it is checked
against tests/deploy/schemas/servicemonitor-v1-subset.json, a hand-written subset (see its comment).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from engine.settings import load_settings
from tests.deploy.files import CLI, DEPLOY, ROOT, SETTING_NAMES, dockerfile

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"
SERVICE_MONITOR_SCHEMA = Path(__file__).parent / "schemas" / "servicemonitor-v1-subset.json"
SECRET = "k" * 32


def documents() -> list[dict]:
    """Every manifest of every file kustomization.yaml lists (a file may hold several)."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def manifests(name: str = "metrics-service") -> dict[str, dict]:
    """{kind: manifest} of the application ``name`` (metrics-service, or the Redis it shares)."""
    return {doc["kind"]: doc for doc in documents() if doc["metadata"]["name"] == name}


def container() -> dict:
    return manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_kustomization_lists_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert set(manifests()) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                                "HorizontalPodAutoscaler", "ServiceMonitor"}
    assert set(manifests("metrics-service-redis")) == {"Deployment", "Service"}
    assert len(documents()) == 8


@pytest.mark.parametrize("name,kind", [("metrics-service", kind) for kind in (
    "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler")]
    + [("metrics-service-redis", "Deployment"), ("metrics-service-redis", "Service")])
def test_manifest_is_valid_against_the_kubernetes_schema(name, kind):
    kubernetes_validate.validate(manifests(name)[kind], KUBERNETES_VERSION, strict=True)


def test_the_replicas_redis_url_names_the_redis_service_and_it_selects_the_redis_pod():
    config = yaml.safe_load(manifests()["ConfigMap"]["data"]["config.yaml"])
    url = urlsplit(config["redis_url"])
    redis = manifests("metrics-service-redis")
    service, pod = redis["Service"], redis["Deployment"]["spec"]["template"]
    port = next(p for p in service["spec"]["ports"] if p["port"] == url.port)
    assert url.hostname == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert port["targetPort"] in {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert not service["spec"]["selector"].items() <= manifests()["Deployment"]["spec"]["template"][
        "metadata"]["labels"].items(), "the Redis Service must not select the replicas"


def test_the_validator_rejects_a_misspelt_field():
    deployment = copy.deepcopy(manifests()["Deployment"])
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_service_monitor_is_valid_and_scrapes_the_services_metrics_port():
    schema = json.loads(SERVICE_MONITOR_SCHEMA.read_text())
    monitor, service = manifests()["ServiceMonitor"], manifests()["Service"]
    jsonschema.validate(monitor, schema)
    typo = copy.deepcopy(monitor)
    typo["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, schema)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert all(e["port"] in ports and e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_the_deployment_runs_three_probed_non_root_replicas_on_the_images_port_and_data_dir():
    deployment = manifests()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    c = container()
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert set(env) <= SETTING_NAMES, set(env) - SETTING_NAMES
    image_env = {k: v for k, v in dockerfile()[-1].env().items() if k in SETTING_NAMES}
    settings = load_settings(env={**image_env, **{k: v for k, v in env.items() if v is not None},
                                  "JWT_SECRET": SECRET, "METRICS_SERVICE_CONFIG": ""}, dotenv_path=None)
    assert deployment["spec"]["replicas"] == 3
    http = next(p for p in c["ports"] if p["name"] == "http")
    assert http["containerPort"] == settings.port
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["resources"]["requests"] and c["resources"]["limits"]
    uid = int(dockerfile()[-1].one("USER").partition(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == uid
    assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
    writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    data = next(m for m in c["volumeMounts"] if m["mountPath"] == str(settings.data_dir))
    assert data["name"] in writable and not data.get("readOnly")
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
    assert set(secrets) == {"JWT_SECRET", "SECRETS_KEY"}
    assert c["args"] == [] and dockerfile()[-1].exec_form("ENTRYPOINT")[1:] == ["serve"]


def mounted_config_files(tmp_path) -> dict[str, Path]:
    """{container path: local copy} of the files the Deployment mounts from the ConfigMap."""
    data = manifests()["ConfigMap"]["data"]
    files = {}
    for mount in container()["volumeMounts"]:
        if mount["name"] == "config":
            local = tmp_path / mount["subPath"]
            local.write_text(data[mount["subPath"]])
            files[mount["mountPath"]] = local
    return files


def test_the_configmaps_settings_and_rules_load(tmp_path):
    files = mounted_config_files(tmp_path)
    env = {e["name"]: e.get("value") for e in container()["env"]}
    config = yaml.safe_load(files[env["METRICS_SERVICE_CONFIG"]].read_text())
    assert all(path in files for path in config["rules_files"]), "every rule file is mounted"
    settings = load_settings(env={"JWT_SECRET": SECRET}, config_file=str(files[env["METRICS_SERVICE_CONFIG"]]),
                             dotenv_path=None)
    assert settings.redis_url
    local_rules = [str(files[path]) for path in config["rules_files"]]
    check = subprocess.run([*CLI, "rules", "check", *local_rules], capture_output=True, text=True, timeout=120,
                           cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_disruption_budget_and_autoscaler_hold_the_deployments_pods():
    m = manifests()
    labels = m["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert m["PodDisruptionBudget"]["spec"]["minAvailable"] < m["Deployment"]["spec"]["replicas"]
    assert m["Service"]["spec"]["selector"].items() <= labels.items()
    target = m["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", m["Deployment"]["metadata"]["name"])
    assert m["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == m["Deployment"]["spec"]["replicas"]
