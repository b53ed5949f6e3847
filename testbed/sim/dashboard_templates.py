"""Simulated OpenShift AI operator, dashboard/model-serving part: the shipped ServingRuntime
Templates and the `odh-dashboard-config` OdhDashboardConfig.

Facts: shared/reference/serving-api.md §1.1-1.3 (templates), §1.5 (dashboard config),
§1.6 (ownership). Written for this project.

- Runtime templates (`template.openshift.io/v1` Template, one ServingRuntime in `objects[0]`) are
  applied into the applications namespace while DSC `kserve` or `modelmeshserving` is `Managed`
  (the 2.17+ ModelController rule), with the inventory of the operator's version (the installed
  rhods-operator CSV, mapped to the nearest lower column of the table in §1.2). The operator
  re-applies them when they drift or are deleted, and deletes the ones it owns that its version
  no longer ships (upgrade) or when both components leave `Managed`. From 2.17 an object
  annotated `opendatahub.io/managed: "false"` is left alone (and de-owned); 2.16 reverts always.
- `odh-dashboard-config` is created once (if absent) while DSC `dashboard` is `Managed`, with the
  defaults of §1.5; it is never updated afterwards, so installers can patch it. From 2.19 it
  carries `opendatahub.io/managed: "false"`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging

from . import resources as R
from .kube import ApiError, Res
from .mesh import operator_up, operator_version
from .runtime import Controller
from .util import dig, owner_ref

log = logging.getLogger("sim.rhoai.dashboard")

PKG = "rhods-operator"
MANAGER = "rhods-operator"
DEFAULT_APPS_NS = "redhat-ods-applications"
TEMPLATE = Res("template.openshift.io", "v1", "templates", "Template")
ODH_DASHBOARD_CONFIG = Res("opendatahub.io", "v1alpha", "odhdashboardconfigs", "OdhDashboardConfig")
DASHBOARD_CONFIG_NAME = "odh-dashboard-config"
MANAGED_ANNOTATION = "opendatahub.io/managed"

# table columns of serving-api.md §1.2 (RHOAI release branches the inventory was read at)
COLUMNS = ((2, 13), (2, 16), (2, 19), (2, 22), (2, 25), (3, 0))

TEMPLATE_LABELS = {
    "app": "odh-dashboard",
    "app.kubernetes.io/part-of": "odh-dashboard",
    "opendatahub.io/dashboard": "true",
    "opendatahub.io/ootb": "true",
}
NVIDIA = '["nvidia.com/gpu"]'


def parse_version(version: str) -> tuple:
    parts = []
    for p in (version or "").split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return tuple(parts)


def column(version: str) -> tuple:
    """The §1.2 table column for an operator version: the nearest column at or below it."""
    v = parse_version(version)
    best = COLUMNS[0]
    for c in COLUMNS:
        if c <= v:
            best = c
    return best


def honours_managed_false(version: str) -> bool:
    """2.17+: objects annotated opendatahub.io/managed=false are not reconciled."""
    return parse_version(version) >= (2, 17)


def image(repo: str, col: tuple) -> str:
    """A digest-pinned image reference, stable per repository and release column."""
    digest = hashlib.sha256(f"{repo}@rhoai-{col[0]}.{col[1]}".encode()).hexdigest()
    return f"registry.redhat.io/rhoai/{repo}@sha256:{digest}"


# -- ServingRuntime bodies (serving-api.md §1.3) ------------------------------------------------
def _prom(port: str) -> dict:
    return {"prometheus.io/port": port, "prometheus.io/path": "/metrics"}


def _vllm_spec(img: str) -> dict:
    return {
        "annotations": _prom("8080"),
        "multiModel": False,
        "supportedModelFormats": [{"autoSelect": True, "name": "vLLM"}],
        "containers": [{
            "name": "kserve-container",
            "image": img,
            "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
            "args": ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"],
            "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        }],
    }


def _vllm_multinode_spec(img: str) -> dict:
    spec = _vllm_spec(img)
    c = spec["containers"][0]
    c["env"] = c["env"] + [{"name": "RAY_PORT", "value": "6379"},
                           {"name": "VLLM_CONFIG_ROOT", "value": "/tmp"}]
    c["volumeMounts"] = [{"name": "shm", "mountPath": "/dev/shm"}]
    spec["volumes"] = [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "12Gi"}}]
    spec["workerSpec"] = {
        "pipelineParallelSize": 2,
        "tensorParallelSize": 1,
        "containers": [{
            "name": "worker-container",
            "image": img,
            "command": ["bash", "-c"],
            "args": ["ray start --address=\"${HEAD_SVC}.${POD_NAMESPACE}.svc.cluster.local:${RAY_PORT}\" --block"],
            "env": [{"name": "RAY_PORT", "value": "6379"}],
            "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
        }],
    }
    return spec


def _tgis_grpc_spec(img: str) -> dict:
    return {
        "annotations": _prom("3000"),
        "multiModel": False,
        "supportedModelFormats": [{"autoSelect": True, "name": "pytorch"}],
        "containers": [{
            "name": "kserve-container",
            "image": img,
            "command": ["text-generation-launcher"],
            "args": ["--model-name=/mnt/models/", "--port=3000", "--grpc-port=8033"],
            "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
            "ports": [{"containerPort": 8033, "name": "h2c", "protocol": "TCP"}],
        }],
    }


CAIKIT_ENV = [
    {"name": "RUNTIME_LOCAL_MODELS_DIR", "value": "/mnt/models"},
    {"name": "HF_HOME", "value": "/tmp/hf_home"},
    {"name": "RUNTIME_GRPC_ENABLED", "value": "false"},
    {"name": "RUNTIME_HTTP_ENABLED", "value": "true"},
]


def _caikit_tgis_spec(tgis_img: str, caikit_img: str) -> dict:
    return {
        "annotations": _prom("3000"),
        "multiModel": False,
        "supportedModelFormats": [{"autoSelect": True, "name": "caikit"}],
        "containers": [
            {
                "name": "kserve-container",
                "image": tgis_img,
                "command": ["text-generation-launcher"],
                "args": ["--model-name=/mnt/models/artifacts/"],
                "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
            },
            {
                "name": "transformer-container",
                "image": caikit_img,
                "env": copy.deepcopy(CAIKIT_ENV),
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            },
        ],
    }


def _caikit_standalone_spec(img: str) -> dict:
    def probe(kind):
        return {"exec": {"command": ["python", "-m", "caikit_health_probe", kind]},
                "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 2}

    return {
        "annotations": _prom("8086"),
        "multiModel": False,
        "supportedModelFormats": [{"autoSelect": True, "name": "caikit"}],
        "containers": [{
            "name": "kserve-container",
            "image": img,
            "command": ["python", "-m", "caikit.runtime"],
            "env": copy.deepcopy(CAIKIT_ENV),
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "readinessProbe": probe("readiness"),
            "livenessProbe": probe("liveness"),
            "startupProbe": {"httpGet": {"path": "/health", "port": 8080},
                             "failureThreshold": 24, "periodSeconds": 30},
        }],
    }


def _kserve_ovms_spec(img: str) -> dict:
    fmts = [("openvino_ir", "opset13"), ("onnx", "1"), ("tensorflow", "1"), ("tensorflow", "2"),
            ("paddle", "2"), ("pytorch", "2")]
    return {
        "annotations": _prom("8888"),
        "multiModel": False,
        "protocolVersions": ["v2", "grpc-v2"],
        "supportedModelFormats": [{"autoSelect": True, "name": n, "version": v} for n, v in fmts],
        "containers": [{
            "name": "kserve-container",
            "image": img,
            "args": ["--model_name={{.Name}}", "--port=8001", "--rest_port=8888", "--model_path=/mnt/models",
                     "--file_system_poll_wait_seconds=0", "--grpc_bind_address=0.0.0.0",
                     "--rest_bind_address=0.0.0.0", "--target_device=AUTO", "--metrics_enable"],
            "ports": [{"containerPort": 8888, "protocol": "TCP"}],
        }],
    }


def _modelmesh_ovms_spec(img: str) -> dict:
    return {
        "multiModel": True,
        "replicas": 1,
        "protocolVersions": ["grpc-v1"],
        "grpcDataEndpoint": "port:8001",
        "grpcEndpoint": "port:8085",
        "supportedModelFormats": [
            {"autoSelect": True, "name": "openvino_ir", "version": "opset1"},
            {"autoSelect": True, "name": "onnx", "version": "1"},
            {"autoSelect": True, "name": "tensorflow", "version": "2"},
        ],
        "builtInAdapter": {
            "serverType": "ovms",
            "runtimeManagementPort": 8888,
            "memBufferBytes": 134217728,
            "modelLoadingTimeoutMillis": 90000,
            "env": [{"name": "OVMS_FORCE_TARGET_DEVICE", "value": "AUTO"}],
        },
        "containers": [{
            "name": "ovms",
            "image": img,
            "args": ["--port=8001", "--rest_port=8888", "--config_path=/models/model_config_list.json",
                     "--file_system_poll_wait_seconds=0", "--grpc_bind_address=127.0.0.1",
                     "--rest_bind_address=127.0.0.1"],
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "5", "memory": "1Gi"}},
        }],
    }


def _guardrails_spec(img: str) -> dict:
    return {
        "annotations": _prom("8080"),
        "multiModel": False,
        "supportedModelFormats": [{"autoSelect": True, "name": "guardrails-detector-huggingface"}],
        "containers": [{
            "name": "kserve-container",
            "image": img,
            "command": ["uvicorn", "app:app"],
            "args": ["--workers=1", "--host=0.0.0.0", "--port=8000", "--log-config=/common/log_conf.yaml"],
            "env": [{"name": "MODEL_DIR", "value": "/mnt/models"}, {"name": "HF_HOME", "value": "/tmp/hf_home"}],
            "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        }],
    }


# -- inventory (serving-api.md §1.2) --------------------------------------------------------------
ALL = set(COLUMNS)


def _cols(*names) -> set:
    return {c for c in COLUMNS if f"{c[0]}.{c[1]}" in names}


# template name, SR name, columns, support, protocol, accelerators, display name, family, spec builder
RUNTIMES = [
    ("vllm-runtime-template", "vllm-runtime", _cols("2.13", "2.16"), "single", "REST", NVIDIA,
     "vLLM ServingRuntime for KServe", "vllm", lambda c: _vllm_spec(image("odh-vllm-cuda-rhel9", c))),
    ("vllm-cuda-runtime-template", "vllm-cuda-runtime", _cols("2.19", "2.22", "2.25", "3.0"), "single", "REST",
     NVIDIA, "vLLM NVIDIA GPU ServingRuntime for KServe", "vllm",
     lambda c: _vllm_spec(image("odh-vllm-cuda-rhel9", c))),
    ("vllm-rocm-runtime-template", "vllm-rocm-runtime", ALL - _cols("2.13"), "single", "REST", '["amd.com/gpu"]',
     "vLLM AMD GPU ServingRuntime for KServe", "vllm", lambda c: _vllm_spec(image("odh-vllm-rocm-rhel9", c))),
    ("vllm-gaudi-runtime-template", "vllm-gaudi-runtime", ALL - _cols("2.13"), "single", "REST",
     '["habana.ai/gaudi"]', "vLLM Intel Gaudi Accelerator ServingRuntime for KServe", "vllm",
     lambda c: _vllm_spec(image("odh-vllm-gaudi-rhel9", c))),
    ("vllm-multinode-runtime-template", "vllm-multinode-runtime", ALL - _cols("2.13"), "single", "REST", NVIDIA,
     "vLLM NVIDIA GPU ServingRuntime for KServe (multi-node)", "vllm",
     lambda c: _vllm_multinode_spec(image("odh-vllm-cuda-rhel9", c))),
    ("vllm-cpu-runtime-template", "vllm-cpu-runtime", _cols("2.19", "2.22", "2.25", "3.0"), "single", "REST", None,
     "vLLM CPU ServingRuntime for KServe", "vllm", lambda c: _vllm_spec(image("odh-vllm-cpu-rhel9", c))),
    ("vllm-spyre-runtime-template", "vllm-spyre-runtime", _cols("2.25"), "single", "REST", '["ibm.com/spyre_pf"]',
     "vLLM IBM Spyre ServingRuntime for KServe", "vllm", lambda c: _vllm_spec(image("odh-vllm-spyre-rhel9", c))),
    ("vllm-spyre-x86-runtime-template", "vllm-spyre-x86-runtime", _cols("3.0"), "single", "REST",
     '["ibm.com/spyre_pf"]', "vLLM IBM Spyre ServingRuntime for KServe (x86)", "vllm",
     lambda c: _vllm_spec(image("odh-vllm-spyre-rhel9", c))),
    ("vllm-spyre-s390x-runtime-template", "vllm-spyre-s390x-runtime", _cols("3.0"), "single", "REST",
     '["ibm.com/spyre_vf"]', "vLLM IBM Spyre ServingRuntime for KServe (s390x)", "vllm",
     lambda c: _vllm_spec(image("odh-vllm-spyre-rhel9", c))),
    ("caikit-tgis-serving-template", "caikit-tgis-runtime", ALL - _cols("3.0"), "single", "REST", NVIDIA,
     "Caikit TGIS ServingRuntime for KServe", "caikit",
     lambda c: _caikit_tgis_spec(image("odh-text-generation-inference-rhel8", c),
                                 image("odh-caikit-tgis-serving-rhel8", c))),
    ("caikit-standalone-serving-template", "caikit-standalone-runtime", ALL - _cols("3.0"), "single", "REST", NVIDIA,
     "Caikit Standalone ServingRuntime for KServe", "caikit",
     lambda c: _caikit_standalone_spec(image("odh-caikit-nlp-rhel8", c))),
    ("tgis-grpc-serving-template", "tgis-grpc-runtime", _cols("2.13", "2.16"), "single", "gRPC", NVIDIA,
     "TGIS Standalone ServingRuntime for KServe", "tgis",
     lambda c: _tgis_grpc_spec(image("odh-text-generation-inference-rhel8", c))),
    ("kserve-ovms", "kserve-ovms", ALL, "single", "REST", NVIDIA,
     "OpenVINO Model Server", "ovms", lambda c: _kserve_ovms_spec(image("odh-openvino-model-server-rhel9", c))),
    ("ovms", "ovms", ALL - _cols("3.0"), "multi", "REST", NVIDIA,
     "OpenVINO Model Server", "ovms", lambda c: _modelmesh_ovms_spec(image("odh-openvino-model-server-rhel9", c))),
    ("guardrails-detector-huggingface-serving-template", "guardrails-detector-huggingface-runtime",
     _cols("2.22", "2.25", "3.0"), "single", "REST", NVIDIA,
     "Guardrails Detector ServingRuntime for KServe", "guardrails",
     lambda c: _guardrails_spec(image("odh-guardrails-detector-huggingface-runtime-rhel9", c))),
]

# opendatahub.io/runtime-version on the SR from 2.22 (2.25 values from the reference, others plausible)
RUNTIME_VERSIONS = {
    (2, 22): {"vllm": "v0.9.0.1", "ovms": "v2025.1", "caikit": "v0.27.7", "tgis": "v2.4.0", "guardrails": "v0.1.0"},
    (2, 25): {"vllm": "v0.10.1.1", "ovms": "v2025.2.1", "caikit": "v0.27.7", "tgis": "v2.4.0", "guardrails": "v0.2.0"},
    (3, 0): {"vllm": "v0.11.0", "ovms": "v2025.3", "guardrails": "v0.2.0"},
}
MODEL_TYPE = {"vllm": '["generative"]', "caikit": '["generative"]', "tgis": '["generative"]',
              "ovms": '["predictive"]', "guardrails": '["predictive"]'}


def shipped_templates(version: str, namespace: str = DEFAULT_APPS_NS) -> list:
    """The runtime Templates the operator of `version` ships, as it applies them (no owner)."""
    col = column(version)
    out = []
    for tname, srname, cols, support, protocol, accel, display, family, build in RUNTIMES:
        if col not in cols:
            continue
        sr_ann = {"openshift.io/display-name": display}
        if accel:
            sr_ann["opendatahub.io/recommended-accelerators"] = accel
        if col >= (2, 22) and family in RUNTIME_VERSIONS[col]:
            sr_ann["opendatahub.io/runtime-version"] = RUNTIME_VERSIONS[col][family]
        spec = build(col)
        if col >= (2, 25) and family in ("vllm", "ovms", "tgis", "caikit"):
            spec.setdefault("annotations", {})["opendatahub.io/kserve-runtime"] = family
        sr = {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "ServingRuntime",
            "metadata": {"name": srname, "labels": {"opendatahub.io/dashboard": "true"}, "annotations": sr_ann},
            "spec": spec,
        }
        t_ann = {
            "description": f"{display} (shipped with Red Hat OpenShift AI)",
            "openshift.io/display-name": display,
            "openshift.io/provider-display-name": "Red Hat, Inc.",
            "tags": "rhods,rhoai,kserve,servingruntime" if support == "single" else "rhods,rhoai,modelmesh,servingruntime",
            "opendatahub.io/modelServingSupport": json.dumps([support]),
            "opendatahub.io/apiProtocol": protocol,
        }
        if col >= (2, 25):
            t_ann["opendatahub.io/model-type"] = MODEL_TYPE[family]
        out.append({
            "apiVersion": "template.openshift.io/v1",
            "kind": "Template",
            "metadata": {"name": tname, "namespace": namespace, "labels": dict(TEMPLATE_LABELS),
                         "annotations": t_ann},
            "objects": [sr],
        })
    return out


def shipped_runtime_names(version: str) -> dict:
    """{template name: ServingRuntime name} for `version`."""
    return {t["metadata"]["name"]: t["objects"][0]["metadata"]["name"] for t in shipped_templates(version)}


# -- OdhDashboardConfig (serving-api.md §1.5) ---------------------------------------------------------
DASHBOARD_FLAGS_216 = {
    "enablement": True,
    "disableInfo": False,
    "disableSupport": False,
    "disableClusterManager": False,
    "disableTracking": True,
    "disableBYONImageStream": False,
    "disableISVBadges": False,
    "disableAppLauncher": False,
    "disableUserManagement": False,
    "disableHome": False,
    "disableProjects": False,
    "disableModelServing": False,
    "disableProjectSharing": False,
    "disableCustomServingRuntimes": False,
    "disablePipelines": False,
    "disableKServe": False,
    "disableKServeAuth": False,
    "disableKServeMetrics": False,
    "disableModelMesh": False,
    "disableAcceleratorProfiles": False,
    "disableDistributedWorkloads": False,
    "disableModelRegistry": False,
    "disableServingRuntimeParams": False,
    "disableNIMModelServing": False,
    "disableStorageClasses": False,
    "disableTrustyBiasMetrics": False,
    "disablePerformanceMetrics": False,
}

MODEL_SERVER_SIZES = [
    {"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "4Gi"},
                                    "limits": {"cpu": "2", "memory": "8Gi"}}},
    {"name": "Medium", "resources": {"requests": {"cpu": "4", "memory": "8Gi"},
                                     "limits": {"cpu": "8", "memory": "10Gi"}}},
    {"name": "Large", "resources": {"requests": {"cpu": "6", "memory": "16Gi"},
                                    "limits": {"cpu": "10", "memory": "20Gi"}}},
]


def dashboard_config(version: str, namespace: str = DEFAULT_APPS_NS) -> dict:
    """The OdhDashboardConfig the operator of `version` creates (no owner)."""
    flags = dict(DASHBOARD_FLAGS_216)
    if column(version) >= (2, 22):
        flags.update({"disableKServeRaw": False, "disableModelRegistrySecureDB": False,
                      "enableKServeTimeoutAlternate": False})
    md = {"name": DASHBOARD_CONFIG_NAME, "namespace": namespace,
          "labels": {"app.kubernetes.io/part-of": "rhods-dashboard", "app.opendatahub.io/rhods-dashboard": "true"}}
    if parse_version(version) >= (2, 19):
        md["annotations"] = {MANAGED_ANNOTATION: "false"}
    return {
        "apiVersion": "opendatahub.io/v1alpha",
        "kind": "OdhDashboardConfig",
        "metadata": md,
        "spec": {
            "dashboardConfig": flags,
            "notebookController": {"enabled": True, "notebookNamespace": "rhods-notebooks", "pvcSize": "20Gi"},
            "modelServerSizes": copy.deepcopy(MODEL_SERVER_SIZES),
            "templateOrder": [],
            "templateDisablement": [],
        },
    }


# -- controller -----------------------------------------------------------------------------------
def _owned_by(obj: dict, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def _unmanaged(obj: dict) -> bool:
    return (obj["metadata"].get("annotations") or {}).get(MANAGED_ANNOTATION) == "false"


def _drifted(cur: dict, want: dict, uid: str) -> bool:
    cmd, wmd = cur["metadata"], want["metadata"]
    for key in ("labels", "annotations"):
        have = cmd.get(key) or {}
        if any(have.get(k) != v for k, v in (wmd.get(key) or {}).items()):
            return True
    return cur.get("objects") != want["objects"] or not _owned_by(cur, uid)


class DashboardTemplatesController(Controller):
    """Runtime Templates and the dashboard config, per DataScienceCluster."""
    name = "rhoai-dashboard-templates"
    primary = R.DSC
    triggers = (R.DSCI, R.CSV, TEMPLATE, ODH_DASHBOARD_CONFIG)

    def reconcile(self, ns, name):
        dsc = self.mgr.get(R.DSC, name)
        if dsc is None or dsc["metadata"].get("deletionTimestamp") or not operator_up(self.mgr, PKG):
            return None
        version = operator_version(self.mgr, PKG)
        dscis = self.mgr.informer(R.DSCI).items()
        if not version or not dscis:
            return 2.0
        apps_ns = dig(dscis[0], "spec", "applicationsNamespace") or DEFAULT_APPS_NS
        if self.mgr.get(R.NAMESPACE, apps_ns) is None:
            return 1.0
        comps = dig(dsc, "spec", "components", default={}) or {}
        serving = any(dig(comps, c, "managementState") == "Managed" for c in ("kserve", "modelmeshserving"))
        requeue = False
        if self.mgr.informer(TEMPLATE).served:
            self._templates(dsc, apps_ns, version, serving)
        else:
            requeue = True
        if dig(comps, "dashboard", "managementState") == "Managed":
            requeue |= not self._dashboard_config(dsc, apps_ns, version)
        return 2.0 if requeue else None

    def _templates(self, dsc, apps_ns, version, serving):
        uid = dsc["metadata"]["uid"]
        honour = honours_managed_false(version)
        want = {t["metadata"]["name"]: t for t in shipped_templates(version, apps_ns)} if serving else {}
        inf = self.mgr.informer(TEMPLATE)
        for tname, body in want.items():
            cur = inf.get(tname, apps_ns)
            if cur is not None and honour and _unmanaged(cur):
                self._deown(cur, uid)
                continue
            body = copy.deepcopy(body)
            body["metadata"]["ownerReferences"] = [owner_ref(dsc)]
            if cur is not None and not _drifted(cur, body, uid):
                continue
            out = self.kube.apply(TEMPLATE, body, MANAGER)
            inf.upsert(out)
            log.info("%s template %s/%s (%s)", "created" if cur is None else "re-applied", apps_ns, tname, version)
        for cur in inf.items(namespace=apps_ns):
            tname = cur["metadata"]["name"]
            if tname in want or not _owned_by(cur, uid) or cur["metadata"].get("deletionTimestamp"):
                continue
            if (cur["metadata"].get("labels") or {}).get("opendatahub.io/ootb") != "true":
                continue
            if honour and _unmanaged(cur):
                self._deown(cur, uid)
                continue
            self.mgr.delete(TEMPLATE, tname, apps_ns)
            log.info("deleted template %s/%s (%s)", apps_ns, tname,
                     f"not shipped by {version}" if serving else "neither kserve nor modelmeshserving is Managed")

    def _deown(self, cur, uid):
        """An object the user took over (managed=false) loses the operator's ownerReference."""
        if _owned_by(cur, uid):
            md = cur["metadata"]
            refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") != uid]
            self.mgr.patch(TEMPLATE, md["name"], {"metadata": {"ownerReferences": refs or None}}, md["namespace"])
            log.info("template %s/%s is opendatahub.io/managed=false: no longer owned", md["namespace"], md["name"])

    def _dashboard_config(self, dsc, apps_ns, version) -> bool:
        """Create-once; True when it exists."""
        inf = self.mgr.informer(ODH_DASHBOARD_CONFIG)
        if not inf.served:
            return False
        if inf.get(DASHBOARD_CONFIG_NAME, apps_ns) is not None:
            return True
        body = dashboard_config(version, apps_ns)
        if parse_version(version) < (2, 19):
            body["metadata"]["ownerReferences"] = [owner_ref(dsc)]
        try:
            _, created = self.mgr.create_if_missing(ODH_DASHBOARD_CONFIG, body)
        except ApiError as e:
            log.warning("odh-dashboard-config: %s", e)
            return False
        if created:
            log.info("created OdhDashboardConfig %s/%s (%s)", apps_ns, DASHBOARD_CONFIG_NAME, version)
        return True


CONTROLLERS = [DashboardTemplatesController]
