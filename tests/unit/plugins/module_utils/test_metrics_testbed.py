"""The testbed's simulated monitoring stack without a cluster (fake informer caches): label selectors,
relabel translation, ServiceMonitor/PodMonitor -> scrape jobs as UWM's prometheus-operator builds them,
the scrape proxy's choice of the pod that reports a model's counts, and the simulator's zero counters that
make the seed's increase() queries exact."""


class _Inf(object):
    def __init__(self, objs, served=True):
        self.objs = objs
        self.served = served

    def items(self, namespace=None, selector=None):
        out = []
        for o in self.objs:
            md = o["metadata"]
            if namespace is not None and md.get("namespace") != namespace:
                continue
            if selector and any((md.get("labels") or {}).get(k) != v for k, v in selector.items()):
                continue
            out.append(o)
        return sorted(out, key=lambda o: o["metadata"]["name"])

    def get(self, name, namespace=None):
        return next((o for o in self.objs if o["metadata"]["name"] == name
                     and o["metadata"].get("namespace") == namespace), None)


class _Mgr(object):
    def __init__(self, by_kind):
        self.by_kind = by_kind
        self.kube = None

    def informer(self, res):
        return self.by_kind.setdefault(res.kind, _Inf([]))

    def get(self, res, name, namespace=None):
        return self.informer(res).get(name, namespace)


def pod(name, ns, ip, labels, ports=(("http", 8080),), phase="Running", annotations=None):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations or {},
                         "uid": "u-" + name},
            "spec": {"nodeName": "worker-0", "containers": [
                {"name": "kserve-container", "ports": [{"name": n, "containerPort": p} for n, p in ports]}]},
            "status": {"phase": phase, "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}


def stack(objs):
    from testbed.sim import monitoring as mon

    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], _Inf([])).objs.append(o)
    s = mon.Stack.__new__(mon.Stack)
    s.mgr = _Mgr(by_kind)
    s.proxy_port = 3128
    return s


def test_selectors_and_relabel_translation():
    from testbed.sim.monitoring import _relabel, _selector_matches

    labels = {"app": "a", "tier": "web"}
    assert _selector_matches({"matchLabels": {"app": "a"}}, labels)
    assert not _selector_matches({"matchLabels": {"app": "b"}}, labels)
    assert _selector_matches({"matchExpressions": [{"key": "istio-prometheus-ignore", "operator": "DoesNotExist"}]},
                             labels)
    assert not _selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]},
                                 labels)
    assert _selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "db"]}]}, labels)
    assert _relabel([{"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "p", "action": "replace"}]) == [
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "p", "action": "replace"}]


def test_service_monitor_becomes_a_job_with_the_operator_labels():
    ns = "models"
    objs = [
        dict(pod("granite-predictor-abc", ns, "10.128.0.5", {"serving.kserve.io/inferenceservice": "granite"},
                 annotations={"prometheus.io/port": "8080"}), kind="Pod"),
        dict(pod("granite-predictor-old", ns, "10.128.0.6", {"serving.kserve.io/inferenceservice": "granite"},
                 phase="Pending"), kind="Pod"),
        {"kind": "Service", "metadata": {"name": "granite-metrics", "namespace": ns, "labels": {"name": "granite-metrics"}},
         "spec": {"selector": {"serving.kserve.io/inferenceservice": "granite"},
                  "ports": [{"name": "vllm-cuda-runtime-metrics", "port": 8080, "targetPort": 8080}]}},
        {"kind": "ServiceMonitor", "metadata": {"name": "granite-metrics", "namespace": ns},
         "spec": {"selector": {"matchLabels": {"name": "granite-metrics"}},
                  "endpoints": [{"port": "vllm-cuda-runtime-metrics", "path": "/metrics", "interval": "30s",
                                 "metricRelabelings": [{"action": "drop", "regex": "go_.*",
                                                        "sourceLabels": ["__name__"]}]}]}},
    ]
    s = stack(objs)
    [job] = s._sm_jobs(objs[3])
    assert job["job_name"] == "serviceMonitor/models/granite-metrics/0"
    assert job["scrape_interval"] == "1s" and job["metrics_path"] == "/metrics"
    assert job["proxy_url"] == "http://127.0.0.1:3128"
    assert job["metric_relabel_configs"] == [{"action": "drop", "regex": "go_.*", "source_labels": ["__name__"]}]
    [target] = job["static_configs"]  # the Pending pod is no target
    assert target["targets"] == ["10.128.0.5:8080"]
    labels = target["labels"]
    assert {k: labels[k] for k in ("namespace", "service", "pod", "container", "endpoint", "job")} == {
        "namespace": ns, "service": "granite-metrics", "pod": "granite-predictor-abc",
        "container": "kserve-container", "endpoint": "vllm-cuda-runtime-metrics", "job": "granite-metrics"}
    assert labels["__meta_kubernetes_pod_annotation_prometheus_io_port"] == "8080"
    assert labels["__meta_kubernetes_pod_label_serving_kserve_io_inferenceservice"] == "granite"


def test_pod_monitor_selects_pods_of_its_own_namespace_by_port():
    objs = [
        dict(pod("istiod-1", "istio-system", "10.128.0.2", {"istio": "pilot"},
                 ports=(("http-monitoring", 15014), ("grpc", 15010))), kind="Pod"),
        dict(pod("other", "elsewhere", "10.128.0.3", {"istio": "pilot"}), kind="Pod"),
        {"kind": "PodMonitor", "metadata": {"name": "pm", "namespace": "istio-system"},
         "spec": {"selector": {"matchLabels": {"istio": "pilot"}},
                  "podMetricsEndpoints": [{"port": "http-monitoring", "path": "/stats/prometheus"}]}},
    ]
    s = stack(objs)
    [job] = s._pm_jobs(objs[2])
    assert job["job_name"] == "podMonitor/istio-system/pm/0" and job["metrics_path"] == "/stats/prometheus"
    assert [t["targets"] for t in job["static_configs"]] == [["10.128.0.2:15014"]]
    assert job["static_configs"][0]["labels"]["job"] == "istio-system/pm"


def test_only_the_first_running_pod_reports_a_models_counts():
    ns = "models"
    objs = [dict(pod("m-predictor-b", ns, "10.128.0.7", {"serving.kserve.io/inferenceservice": "m"}), kind="Pod"),
            dict(pod("m-predictor-a", ns, "10.128.0.8", {"serving.kserve.io/inferenceservice": "m"}), kind="Pod"),
            dict(pod("plain", ns, "10.128.0.9", {"app": "x"}), kind="Pod")]
    s = stack(objs)
    assert s.scrape("10.128.0.7", "/metrics") == (200, "text/plain; version=0.0.4", b"")  # not the first
    assert s.scrape("10.128.0.9", "/metrics") == (200, "text/plain; version=0.0.4", b"")  # no simulated metrics
    assert s.scrape("10.1.1.1", "/metrics")[0] == 502
    # the first pod goes to the ingress, whose address is not recorded here
    assert s.scrape("10.128.0.8", "/metrics")[0] == 503


def test_simulator_counters_start_at_zero_after_the_counted_ones():
    import json

    from testbed.sim.modelserver import Model, ModelServer

    isvc = {"metadata": {"name": "g", "namespace": "n"}}
    sr = {"metadata": {"name": "vllm-cuda-runtime"}, "spec": {"containers": [
        {"name": "kserve-container", "args": ["--served-model-name={{.Name}}"]}]}}
    model, server = Model(isvc, sr), ModelServer()
    text = server.stats.render(model)
    assert 'vllm:request_success_total{engine="0",finished_reason="stop",model_name="g"} 0' in text
    server.handle(model, "POST", "/v1/completions", json.dumps({"model": "g", "prompt": "a", "max_tokens": 4}).encode())
    lines = [ln for ln in server.stats.render(model).splitlines() if ln.startswith("vllm:request_success_total{")]
    assert lines[0].endswith(" 1") and len(lines) == 3
    ovms = Model({"metadata": {"name": "o", "namespace": "n"}}, {"metadata": {"name": "kserve-ovms"}})
    assert 'ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="o",version="1"} 0' in \
        server.stats.render(ovms)
