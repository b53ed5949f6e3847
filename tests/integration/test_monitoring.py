"""monitoring role (playbooks/monitoring.yml) and metrics_query against the testbed's real Prometheus.

The shared testbed with the platform installed (test_inference_check.ensure_platform). The tests run
in file order and build on each other: bad input and check mode write nothing -> converge keeps every
pre-existing key of both ConfigMaps, Prometheus starts -> models deployed with the model_deployment
playbook -> once Prometheus has scraped them, the N requests that the inference checks (module
inference_check) sent to a model are counted by the seed's query through metrics_query, and the role's
named checks pass in a second run that changes nothing; a model that served nothing fails with a
message that says so. A ROSA testbed of its own: the managed cluster-monitoring-config is
left alone with a message, and `down` leaves no Prometheus behind.
At the end user workload monitoring is switched off again (Prometheus stops) and the models' project removed.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import yaml
from helpers import ansible_playbook, run_module
from test_inference_check import ensure_platform, gateway_tls
from test_sim_support import create, delete, get, items, merge_patch, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = "playbooks/monitoring.yml"
NS = "mon-" + uuid.uuid4().hex[:6]
CMO = ("openshift-monitoring", "cluster-monitoring-config")
UWM = ("openshift-user-workload-monitoring", "user-workload-monitoring-config")
READER = "metrics-reader"
N_VLLM, N_OVMS, N_TGIS = 5, 3, 2  # inference checks per model
DSCI = ("dscinitialization.opendatahub.io/v1", "DSCInitialization")
MONITORS = (("ServiceMonitor", "istiod-monitor"), ("PodMonitor", "istio-proxies-monitor"))
# the calls of an inference check that the seed's query of the runtime counts (vLLM: the generation
# calls, not GET /v1/models; OVMS: ovms_requests_success of every method, the ready call too)
COUNTED = {"vllm": ("completions", "chat_completions", "embeddings"), "ovms": ("ready", "infer"),
           "caikit-tgis": ("text_generation",)}


def cm(k8s, ns_name):
    return get(k8s, "v1", "ConfigMap", ns_name[1], ns_name[0])


def config_yaml(k8s, ns_name):
    return yaml.safe_load(((cm(k8s, ns_name) or {}).get("data") or {}).get("config.yaml") or "{}") or {}


def changed(run):
    return run.stats.get("localhost", {}).get("changed")


def failure_text(run):
    out = []
    for n, r in run.task_results():
        if r.get("failed") and not r.get("ignore_errors"):
            out.append("%s: %s" % (n, r.get("msg")))
            out += [i.get("msg", "") for i in r.get("results") or [] if isinstance(i, dict) and i.get("failed")]
    return "\n".join(out) or run.stderr[-3000:]


def messages(run):
    return [r.get("msg") for n, r in run.task_results() if n.endswith(" : Report")]


@pytest.fixture(scope="module")
def platform(kubeconfig, k8s):
    ingress = ensure_platform(k8s)
    yield kubeconfig, k8s, ingress
    # leave the shared testbed as found: user workload monitoring off (Prometheus stops), project gone
    if cm(k8s, CMO) is not None:
        merge_patch(k8s, "v1", "ConfigMap", CMO[1], {"data": {"config.yaml": yaml.safe_dump(
            dict(config_yaml(k8s, CMO), enableUserWorkload=False))}}, CMO[0])
    delete(k8s, "v1", "Namespace", NS)
    delete(k8s, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", NS + "-" + READER)


@pytest.fixture(scope="module")
def monitoring_record(platform):
    _kubeconfig, k8s, _ingress = platform
    return wait_for(lambda: (get(k8s, "v1", "ConfigMap", "testbed-monitoring", "testbed-system") or {}).get("data"),
                    timeout=60, desc="ConfigMap testbed-system/testbed-monitoring (the simulated monitoring stack)")


def play(kubeconfig, record, check=False, diff=False, **kw):
    extra = {"model_serving_kubeconfig": kubeconfig,
             "monitoring_query_ca": record["ca.crt"],
             "monitoring_query_resolve": {record["query-host"]: record["query-address"]}}
    extra.update(kw)
    return ansible_playbook(PLAYBOOK, kubeconfig, extra, check=check, diff=diff, timeout=900)


def test_bad_input_and_check_mode_write_nothing(platform, monitoring_record):
    kubeconfig, k8s, _ingress = platform
    # what a platform team already has in both ConfigMaps
    for (ns, name), text, extra in ((CMO, "telemeterClient:\n  enabled: false\nprometheusK8s:\n  retention: 7d\n",
                                     {"team-notes": "kept"}),
                                    (UWM, "alertmanager:\n  enabled: true\n", {"other-key": "kept"})):
        md = {"name": name, "namespace": ns, "labels": {"team": "platform"}}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": dict(extra, **{"config.yaml": text})}
        if get(k8s, "v1", "ConfigMap", name, ns) is None:
            wait_for(lambda ns=ns: get(k8s, "v1", "Namespace", ns), timeout=60, desc="namespace " + ns)
            create(k8s, body)
        else:
            merge_patch(k8s, "v1", "ConfigMap", name, {"metadata": body["metadata"], "data": body["data"]}, ns)
    before = {k: cm(k8s, k)["metadata"]["resourceVersion"] for k in (CMO, UWM)}
    others = written_elsewhere(k8s)

    run = play(kubeconfig, monitoring_record, monitoring_checks=[{"model": "Bad Name", "namespace": NS,
                                                                  "runtime": "vllm"}])
    assert run.rc != 0
    assert "monitoring_checks[0]" in failure_text(run)

    run = play(kubeconfig, monitoring_record, check=True, diff=True)
    assert run.rc == 0, failure_text(run)
    assert changed(run) >= 1  # it would change cluster-monitoring-config
    assert {k: cm(k8s, k)["metadata"]["resourceVersion"] for k in (CMO, UWM)} == before
    assert config_yaml(k8s, CMO).get("enableUserWorkload") is not True
    # nor the role's other objects: DSCInitialization spec, mesh monitors
    assert written_elsewhere(k8s) == others


def written_elsewhere(k8s):
    """What the role writes besides the two ConfigMaps: the DSCInitialization's spec (its status moves
    on its own) and the mesh monitors (resourceVersion, None while absent)."""
    out = {("DSCInitialization", d["metadata"]["name"]): d.get("spec") for d in items(k8s, *DSCI)}
    for kind, name in MONITORS:
        obj = get(k8s, "monitoring.coreos.com/v1", kind, name, "istio-system")
        out[(kind, name)] = obj and obj["metadata"]["resourceVersion"]
    return out


def test_converge_keeps_every_key_and_starts_prometheus(platform, monitoring_record):
    kubeconfig, k8s, _ingress = platform
    run = play(kubeconfig, monitoring_record)
    assert run.rc == 0, failure_text(run)
    cmo, uwm = cm(k8s, CMO), cm(k8s, UWM)
    assert config_yaml(k8s, CMO) == {"enableUserWorkload": True, "telemeterClient": {"enabled": False},
                                     "prometheusK8s": {"retention": "7d"}}
    assert cmo["data"]["team-notes"] == "kept" and cmo["metadata"]["labels"]["team"] == "platform"
    assert config_yaml(k8s, UWM) == {"alertmanager": {"enabled": True},
                                     "prometheus": {"logLevel": "debug", "retention": "15d"}}
    assert uwm["data"]["other-key"] == "kept" and uwm["metadata"]["labels"]["team"] == "platform"
    # the mesh monitors of the RHOAI procedure (the testbed's mesh runs in istio-system)
    sm = get(k8s, "monitoring.coreos.com/v1", "ServiceMonitor", "istiod-monitor", "istio-system")
    assert sm["spec"]["selector"] == {"matchLabels": {"istio": "pilot"}}
    pm = get(k8s, "monitoring.coreos.com/v1", "PodMonitor", "istio-proxies-monitor", "istio-system")
    assert pm["spec"]["podMetricsEndpoints"][0]["path"] == "/stats/prometheus"

    # the real Prometheus runs (its cold start is recorded by the simulated operator)
    def started():
        data = (get(k8s, "v1", "ConfigMap", "testbed-monitoring", "testbed-system") or {}).get("data") or {}
        return data if data.get("prometheus-address") else None

    data = wait_for(started, timeout=120, desc="Prometheus started by the simulated monitoring operator")
    print("prometheus ready in %ss" % data.get("prometheus-ready-seconds"))
    # (the second run, changed=0, is the named checks' run of test_seed_queries_count_the_requests)


@pytest.fixture(scope="module")
def models(platform):
    """granite (vLLM, Serverless), mnist (OVMS, RawDeployment), flan (Caikit-TGIS, RawDeployment) and
    idle (vLLM) deployed with the model_deployment playbook, its inference checks off: until the test
    runs the inference checks, no model has served anything, so the counts below are exact."""
    kubeconfig, k8s, ingress = platform
    granite = {"name": "granite", "project": NS, "runtime": "vllm-cuda-runtime", "model_format": "vLLM",
               "storage": {"uri": "oci://quay.io/example/granite:1"}}
    mnist = {"name": "mnist", "project": NS, "runtime": "kserve-ovms", "model_format": "onnx",
             "deployment_mode": "RawDeployment", "external_route": False,
             "storage": {"uri": "oci://quay.io/example/mnist:1"}}
    flan = {"name": "flan", "project": NS, "runtime": "caikit-tgis-runtime", "model_format": "caikit",
            "deployment_mode": "RawDeployment", "external_route": False,
            "storage": {"uri": "oci://quay.io/example/flan-t5:1"}}
    idle = dict(granite, name="idle")
    run = ansible_playbook("playbooks/deploy_models.yml", kubeconfig, {
        "model_serving_kubeconfig": kubeconfig, "model_deployment_timeout": 300,
        "model_deployment_inference_check": False, "model_serving_models": [granite, mnist, flan, idle]}, timeout=1200)
    assert run.rc == 0, failure_text(run)
    # a reader of the query endpoint: cluster-monitoring-view, as on OpenShift
    create(k8s, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": READER, "namespace": NS}})
    create(k8s, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": NS + "-" + READER},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "cluster-monitoring-view"},
                 "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": NS}]})
    return ingress


def query(kubeconfig, record, **args):
    base = {"token_service_account": {"name": READER, "namespace": NS}, "ca": record["ca.crt"],
            "resolve": {record["query-host"]: record["query-address"]}}
    base.update(args)
    return run_module("metrics_query", base, kubeconfig)


def inference_checks(kubeconfig, k8s, ingress, name, times):
    """The model-deployment work's inference check (module inference_check) run `times` times on a model,
    one after the other; returns the number of requests the seed's query of its runtime counts."""
    res = run_module("inference_check", {
        "models": [{"name": name, "namespace": NS}] * times, "workers": 1, "wait_timeout": 60,
        "ca": gateway_tls(k8s)[1],
        "resolve": {"*.svc.cluster.local": ingress["http-address"], "*": ingress["https-address"]}}, kubeconfig)
    assert not res.get("failed"), res.get("msg")
    assert len(res["checks"]) == times and all(c["ok"] for c in res["checks"]), res["checks"]
    calls = [c for check in res["checks"] for c in check["calls"]]
    assert all(c["status"] == 200 for c in calls), calls
    return sum(1 for check in res["checks"] for c in check["calls"] if c["name"] in COUNTED[check["runtime"]])


def test_seed_queries_count_the_requests(platform, monitoring_record, models):
    kubeconfig, k8s, _ingress = platform
    ingress = models
    rec = monitoring_record
    # the counters of both models are scraped (at 0: nothing called them yet)
    for q in ('vllm:request_success_total{namespace="%s",model_name="granite"}' % NS,
              'ovms_requests_success{namespace="%s",name="mnist"}' % NS,
              'tgi_request_success{namespace="%s",pod=~"flan-predictor-.*"}' % NS):
        res = query(kubeconfig, rec, query=q, expect_series=True, timeout=180)
        assert not res.get("failed"), res.get("msg")
    # N requests: what the inference checks sent (vLLM: completions and chat per check; OVMS: ready and infer)
    n_vllm = inference_checks(kubeconfig, k8s, ingress, "granite", N_VLLM)
    n_ovms = inference_checks(kubeconfig, k8s, ingress, "mnist", N_OVMS)
    n_tgis = inference_checks(kubeconfig, k8s, ingress, "flan", N_TGIS)
    assert n_vllm >= N_VLLM and n_ovms == 2 * N_OVMS and n_tgis == N_TGIS, (n_vllm, n_ovms, n_tgis)

    res = query(kubeconfig, rec, check={"runtime": "vllm", "namespace": NS, "model": "granite"}, value=n_vllm,
                timeout=180)
    assert not res.get("failed"), res.get("msg")
    assert res["query"] == ('round(sum(increase(vllm:request_success_total{namespace="%s",model_name="granite"}[5m])))'
                            % NS)
    assert res["value"] == n_vllm and res["url"] == "https://" + rec["query-host"]
    res = query(kubeconfig, rec, check={"runtime": "ovms", "namespace": NS, "model": "mnist"}, value=n_ovms,
                timeout=180)
    assert not res.get("failed"), res.get("msg")
    assert res["value"] == n_ovms
    res = query(kubeconfig, rec, check={"runtime": "caikit-tgis", "namespace": NS, "model": "flan"}, value=n_tgis,
                timeout=180)
    assert not res.get("failed"), res.get("msg")
    assert res["query"] == ('round(sum(increase(tgi_request_success{namespace="%s",pod=~"flan-predictor-.*"}[5m])))'
                            % NS)
    assert res["value"] == n_tgis

    # the role's named checks, on the converged cluster: nothing changes (a 30m window: on a loaded
    # machine the run can reach its checks more than 5 minutes after the requests)
    run = play(kubeconfig, rec, monitoring_query_service_account={"name": READER, "namespace": NS},
               monitoring_checks=[{"model": "granite", "namespace": NS, "runtime": "vllm", "value": n_vllm,
                                   "interval": "30m"},
                                  {"model": "mnist", "namespace": NS, "runtime": "ovms", "min_value": 1,
                                   "interval": "30m"}])
    assert run.rc == 0, failure_text(run)
    assert changed(run) == 0
    assert "%s/granite: %d request(s) served in the last 30m" % (NS, n_vllm) in messages(run)[0]


def test_a_model_that_served_nothing_fails_saying_so(platform, monitoring_record, models):
    kubeconfig, _k8s, _ingress = platform
    res = query(kubeconfig, monitoring_record, check={"runtime": "vllm", "namespace": NS, "model": "idle"})
    assert res.get("failed")
    # the simulator, like vLLM, exposes its counters at 0 from the start: "... (the query returned 0)";
    # before the first scrape of the model: "no series: the model served no requests in the last 5m, or ..."
    assert "model idle in %s (vllm): " % NS in res["msg"] and "served no requests in the last 5m" in res["msg"]
    # without the permission the endpoint refuses the token
    other = "nobody-" + uuid.uuid4().hex[:4]
    create(platform[1], {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": other, "namespace": NS}})
    res = query(kubeconfig, monitoring_record, query="up", token_service_account={"name": other, "namespace": NS})
    assert res.get("failed") and "HTTP 403" in res["msg"] and "cluster-monitoring-view" in res["msg"]


def test_rosa_managed_monitoring_is_left_alone(fresh_testbed):
    tb = fresh_testbed(workers=1, gpu_nodes=0, platform="ROSA")
    from testbed.pytest_plugin import dynamic_client

    k8s = dynamic_client(tb.kubeconfig)
    record = wait_for(lambda: (get(k8s, "v1", "ConfigMap", "testbed-monitoring", "testbed-system") or {}).get("data"),
                      timeout=60, desc="the simulated monitoring stack")
    managed = wait_for(lambda: cm(k8s, CMO), timeout=60, desc="ROSA's managed cluster-monitoring-config")
    run = play(str(tb.kubeconfig), record)
    assert run.rc == 0, failure_text(run)
    assert cm(k8s, CMO)["metadata"]["resourceVersion"] == managed["metadata"]["resourceVersion"]
    text = "\n".join(messages(run)[0])
    assert "cluster-monitoring-config is managed by the platform" in text and "left alone" in text, text
    assert config_yaml(k8s, UWM)["prometheus"]["retention"] == "15d"
    # the Prometheus of this testbed dies with it
    data = wait_for(lambda: (get(k8s, "v1", "ConfigMap", "testbed-monitoring", "testbed-system") or {}).get(
        "data", {}).get("prometheus-address"), timeout=120, desc="Prometheus on the ROSA testbed")
    assert data
    tb.down()
    marker = os.path.join(str(tb.state_dir), "prometheus")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = subprocess.run(["pgrep", "-f", marker], stdout=subprocess.PIPE, universal_newlines=True,
                              check=False).stdout.split()
        if not left:
            break
        time.sleep(0.2)
    assert not left, "prometheus still running after down: %s" % left
