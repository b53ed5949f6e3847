"""Pure unit tests of the simulated operators' building blocks (no cluster needed)."""

from __future__ import annotations

import os

import yaml

from testbed.sim import admission, crdgen, faults, olm
from testbed.sim.catalog import ALL_MODES, PACKAGES, csv_spec
from testbed.sim.mesh import render_mesh
from testbed.sim.runtime import _norm
from testbed.sim.util import cond, deep_merge, deployment_ready


class FakeInformer:
    def __init__(self, objs):
        self.objs = objs

    def get(self, name, namespace=None):
        return self.objs.get((namespace or "", name))

    def items(self, namespace=None, selector=None):
        return list(self.objs.values())


class FakeMgr:
    def __init__(self, data):
        cm = {"metadata": {"name": faults.NAME, "namespace": faults.NAMESPACE}, "data": data}
        self.inf = FakeInformer({(faults.NAMESPACE, faults.NAME): cm})

    def informer(self, res):
        return self.inf


def test_fault_annotations_match_component_prefix():
    mgr = FakeMgr(
        {
            "istiod.fail": "CrashLoopBackOff",
            "istiod.fail-container": "discovery",
            "activator.ready-delay": "10",
            "servicemeshoperator.installplan": "Failed",
        }
    )
    assert faults.pod_annotations(mgr, "istiod-minimal") == {
        "testbed.openshift-ai.io/fail": "CrashLoopBackOff",
        "testbed.openshift-ai.io/fail-container": "discovery",
    }
    assert faults.pod_annotations(mgr, "activator") == {"testbed.openshift-ai.io/ready-delay": "10"}
    assert faults.pod_annotations(mgr, "istiodx") == {}
    assert faults.pod_annotations(mgr, "istio-operator") == {}
    assert faults.package_fault(mgr, "servicemeshoperator", "installplan") == "Failed"
    assert faults.package_fault(mgr, "nfd", "csv") is None


def test_fault_most_specific_component_wins():
    mgr = FakeMgr({"istio.fail": "NotReady", "istio-ingressgateway.fail": "ImagePullBackOff"})
    assert faults.pod_annotations(mgr, "istio-ingressgateway")["testbed.openshift-ai.io/fail"] == "ImagePullBackOff"
    assert faults.pod_annotations(mgr, "istio-egressgateway")["testbed.openshift-ai.io/fail"] == "NotReady"


def test_mesh_config_renders_extension_providers():
    smcp = {
        "metadata": {"name": "minimal", "namespace": "istio-system"},
        "spec": {
            "techPreview": {
                "meshConfig": {
                    "defaultConfig": {"terminationDrainDuration": "35s"},
                    "extensionProviders": [
                        {"name": "p", "envoyExtAuthzGrpc": {"service": "s.ns.svc.cluster.local", "port": 50051}}
                    ],
                }
            }
        },
    }
    mesh = yaml.safe_load(render_mesh(smcp))
    assert mesh["defaultConfig"]["discoveryAddress"] == "istiod-minimal.istio-system.svc:15012"
    assert mesh["defaultConfig"]["terminationDrainDuration"] == "35s"
    assert mesh["defaultConfig"]["proxyMetadata"]["PROXY_XDS_VIA_AGENT"] == "true"
    assert mesh["extensionProviders"] == [
        {"name": "p", "envoyExtAuthzGrpc": {"service": "s.ns.svc.cluster.local", "port": 50051}}
    ]
    assert mesh["rootNamespace"] == "istio-system" and mesh["trustDomain"] is None


def test_catalog_is_consistent():
    for pkg in PACKAGES.values():
        assert pkg.default_channel in pkg.channels, pkg.name
        for ch, versions in pkg.channels.items():
            assert versions, (pkg.name, ch)
            assert pkg.head(ch) == f"{pkg.name}.v{versions[-1]}"
        assert set(pkg.install_modes) <= set(ALL_MODES)
        assert pkg.crd_files(), pkg.name
        spec = csv_spec(pkg, pkg.head(pkg.default_channel), pkg.default_channel)
        assert spec["customresourcedefinitions"]["owned"]
        assert [m["type"] for m in spec["installModes"] if m["supported"]] == [
            m for m in ALL_MODES if m in pkg.install_modes
        ]
    assert PACKAGES["authorino-operator"].replaces("stable", "authorino-operator.v1.2.1") == "authorino-operator.v1.1.2"


def test_install_modes_of_operatorgroups():
    assert olm.install_mode_of({"spec": {}}, "ns") == "AllNamespaces"
    assert olm.install_mode_of({"spec": {"targetNamespaces": ["ns"]}}, "ns") == "OwnNamespace"
    assert olm.install_mode_of({"spec": {"targetNamespaces": ["other"]}}, "ns") == "SingleNamespace"
    assert olm.install_mode_of({"spec": {"targetNamespaces": ["a", "b"]}}, "ns") == "MultiNamespace"


def test_generated_crds_are_committed(tmp_path):
    crdgen.main(str(tmp_path))
    for pkg in crdgen.SPECS:
        for f in os.listdir(tmp_path / pkg):
            committed = os.path.join(crdgen.OUT, pkg, f)
            assert os.path.exists(committed), committed
            with open(committed) as a, open(tmp_path / pkg / f) as b:
                assert a.read() == b.read(), f"{committed} is stale: run python -m testbed.sim.crdgen"


def test_conditions_keep_transition_time():
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]
    assert cond(old, "Ready", True, "R")["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert cond(old, "Ready", False, "R")["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert _norm({"conditions": [cond(old, "Ready", True)]}) == _norm({"conditions": [cond(None, "Ready", True)]})


def test_deployment_ready_rules():
    dep = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "readyReplicas": 2,
            "updatedReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }
    assert deployment_ready(dep)
    assert not deployment_ready(deep_merge(dep, {"status": {"updatedReplicas": 1}}))
    assert not deployment_ready(deep_merge(dep, {"status": {"observedGeneration": 1}}))
    assert not deployment_ready(deep_merge(dep, {"status": {"replicas": 3}}))


def test_admission_policies_use_the_kind_as_parameter():
    (policy, binding), (spec_policy, _spec_binding) = admission.policies_for("servicemeshoperator")
    assert policy["spec"]["paramKind"] == {"apiVersion": "maistra.io/v2", "kind": "ServiceMeshControlPlane"}
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Allow"
    assert "only one service mesh" in policy["spec"]["validations"][0]["message"]
    # the spec checks need no parameter and fail closed, as the operator's webhook
    assert "paramKind" not in spec_policy["spec"] and spec_policy["spec"]["failurePolicy"] == "Fail"
    assert set(spec_policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"]) == {"CREATE", "UPDATE"}
    assert len(admission.policies_for("serverless-operator")) == 2
    assert admission.policies_for("nfd") == []
