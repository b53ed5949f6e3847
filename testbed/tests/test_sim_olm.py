"""Simulated OLM: catalog, Subscription -> InstallPlan -> CSV, approval, upgrades, refusals, faults."""

from __future__ import annotations

import datetime

import pytest

from testbed.sim.faults import clear_faults, set_fault
from test_sim_support import (
    when,
    OPERATORS,
    apply,
    client,
    cond,
    delete,
    get,
    items,
    merge_patch,
    module_testbed,
    pods,
    pod_ready,
    stays,
    subscribe,
    subscription,
    wait_for,
    wait_installed,
)

pytestmark = [pytest.mark.integration, pytest.mark.fresh_testbed, pytest.mark.slow]

V1A1 = "operators.coreos.com/v1alpha1"
tb = module_testbed(workers=2, gpu_nodes=1)


@pytest.fixture(scope="module")
def k8s(tb):
    return client(tb)


@pytest.fixture(autouse=True)
def _no_faults(k8s):
    clear_faults(k8s)
    yield
    clear_faults(k8s)


def installplans(k8s, ns):
    return items(k8s, V1A1, "InstallPlan", ns)


def ip_for(k8s, package, csv_name):
    ns = OPERATORS[package][0]
    return [ip for ip in installplans(k8s, ns) if csv_name in ip["spec"]["clusterServiceVersionNames"]]


def test_catalog_lists_packages_channels_and_versions(k8s):
    pms = {
        p["metadata"]["name"]: p
        for p in items(k8s, "packages.operators.coreos.com/v1", "PackageManifest", "openshift-marketplace")
    }
    for name in OPERATORS:
        assert name in pms, sorted(pms)
    st = pms["gpu-operator-certified"]["status"]
    assert st["defaultChannel"] == "v25.3" and st["catalogSource"] == "certified-operators"
    st = pms["servicemeshoperator"]["status"]
    assert st["defaultChannel"] == "stable"
    stable = next(c for c in st["channels"] if c["name"] == "stable")
    assert len(stable["entries"]) >= 2
    assert stable["currentCSV"].startswith("servicemeshoperator.v2.")
    chans = {c["name"] for c in pms["authorino-operator"]["status"]["channels"]}
    assert {"stable", "tech-preview-v1"} <= chans
    assert "alm-examples" in pms["nfd"]["status"]["channels"][0]["currentCSVDesc"]["annotations"]


def test_subscription_installs_operator(k8s):
    subscribe(k8s, "servicemeshoperator", channel="stable")
    sub, csv = wait_installed(k8s, "servicemeshoperator")
    st = sub["status"]
    head = csv["metadata"]["name"]
    assert st["currentCSV"] == st["installedCSV"] == head
    assert st["installPlanRef"]["kind"] == "InstallPlan" and st["installplan"]["name"] == st["installPlanRef"]["name"]
    c = cond(sub, "CatalogSourcesUnhealthy")
    assert c["status"] == "False" and c["reason"] == "AllCatalogSourcesHealthy"
    ip = get(k8s, V1A1, "InstallPlan", st["installPlanRef"]["name"], "openshift-operators")
    assert ip["metadata"]["name"].startswith("install-")
    assert ip["spec"]["approval"] == "Automatic" and ip["spec"]["approved"] is True
    assert ip["status"]["phase"] == "Complete" and cond(ip, "Installed")["status"] == "True"
    assert csv["status"]["reason"] == "InstallSucceeded"
    # OperatorCondition named after the CSV (RHOAI detects operators this way)
    assert get(k8s, "operators.coreos.com/v2", "OperatorCondition", head, "openshift-operators")
    # CRDs Established
    crd = get(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "servicemeshcontrolplanes.maistra.io")
    assert cond(crd, "Established")["status"] == "True"
    # operator Deployment, pods scheduled by the scheduler onto kwok nodes, webhook Service
    ps = wait_for(
        lambda: [p for p in pods(k8s, "openshift-operators", "name=istio-operator") if pod_ready(p)],
        desc="istio-operator pod",
    )
    assert ps[0]["spec"]["nodeName"].startswith("worker-")
    assert get(k8s, "v1", "Service", "istio-operator-service", "openshift-operators")
    # AllNamespaces operator: OLM copies the CSV into other namespaces with reason Copied
    copy = wait_for(lambda: get(k8s, V1A1, "ClusterServiceVersion", head, "default"), desc="copied CSV")
    wait_for(
        lambda: (get(k8s, V1A1, "ClusterServiceVersion", head, "default") or {}).get("status", {}).get("reason")
        == "Copied",
        desc="copied CSV status",
    )
    assert copy["metadata"]["labels"]["olm.copiedFrom"] == "openshift-operators"


def test_unknown_channel_is_resolution_failed(k8s):
    subscribe(k8s, "serverless-operator", channel="no-such-channel")
    sub = wait_for(
        lambda: when(subscription(k8s, "serverless-operator"), lambda s: cond(s, "ResolutionFailed")),
        desc="ResolutionFailed",
    )
    c = cond(sub, "ResolutionFailed")
    assert c["status"] == "True" and c["reason"] == "ConstraintsNotSatisfiable"
    assert "no operators found in channel no-such-channel of package serverless-operator" in c["message"]
    assert not installplans(k8s, "openshift-serverless")
    # unknown package
    apply(
        k8s,
        {
            "apiVersion": V1A1,
            "kind": "Subscription",
            "metadata": {"name": "no-such-operator", "namespace": "openshift-serverless"},
            "spec": {
                "name": "no-such-operator",
                "channel": "stable",
                "source": "redhat-operators",
                "sourceNamespace": "openshift-marketplace",
            },
        },
    )
    sub2 = wait_for(
        lambda: when(
            get(k8s, V1A1, "Subscription", "no-such-operator", "openshift-serverless"),
            lambda s: cond(s, "ResolutionFailed"),
        ),
        desc="ResolutionFailed",
    )
    assert "no operators found in package no-such-operator" in cond(sub2, "ResolutionFailed")["message"]
    delete(k8s, V1A1, "Subscription", "no-such-operator", "openshift-serverless")
    # fixing the channel resolves and installs
    merge_patch(
        k8s, V1A1, "Subscription", "serverless-operator", {"spec": {"channel": "stable"}}, "openshift-serverless"
    )
    sub, csv = wait_installed(k8s, "serverless-operator")
    assert cond(sub, "ResolutionFailed") is None
    assert csv["metadata"]["name"].startswith("serverless-operator.v1.")


def test_manual_approval_waits_then_channel_change_upgrades(k8s):
    subscribe(k8s, "authorino-operator", channel="tech-preview-v1", approval="Manual")
    old_csv = "authorino-operator.v1.0.2"
    ip = wait_for(lambda: (ip_for(k8s, "authorino-operator", old_csv) or [None])[0], desc="InstallPlan")
    wait_for(
        lambda: (get(k8s, V1A1, "InstallPlan", ip["metadata"]["name"], "openshift-operators") or {})
        .get("status", {})
        .get("phase")
        == "RequiresApproval",
        desc="RequiresApproval",
    )
    assert ip["spec"]["approved"] is False and ip["spec"]["approval"] == "Manual"
    # the Subscription follows its InstallPlan a moment later (its controller is queued by the plan's change)
    wait_for(lambda: (cond(subscription(k8s, "authorino-operator"), "InstallPlanPending") or {}).get("reason")
             == "RequiresApproval", desc="Subscription follows the InstallPlan")
    sub = subscription(k8s, "authorino-operator")
    assert sub["status"]["state"] == "UpgradePending"
    assert cond(sub, "InstallPlanPending")["reason"] == "RequiresApproval"
    # nothing is installed while the plan waits
    stays(
        lambda: get(k8s, V1A1, "ClusterServiceVersion", old_csv, "openshift-operators") is None,
        4,
        desc="CSV absent before approval",
    )
    merge_patch(k8s, V1A1, "InstallPlan", ip["metadata"]["name"], {"spec": {"approved": True}}, "openshift-operators")
    sub, csv = wait_installed(k8s, "authorino-operator")
    assert sub["status"]["installedCSV"] == old_csv
    # channel change: a new InstallPlan (Manual again), then the CSV is replaced
    merge_patch(k8s, V1A1, "Subscription", "authorino-operator", {"spec": {"channel": "stable"}}, "openshift-operators")
    new_csv = "authorino-operator.v1.2.1"
    ip2 = wait_for(lambda: (ip_for(k8s, "authorino-operator", new_csv) or [None])[0], desc="upgrade InstallPlan")
    assert ip2["spec"]["generation"] == ip["spec"]["generation"] + 1
    wait_for(
        lambda: subscription(k8s, "authorino-operator")["status"].get("state") == "UpgradePending",
        desc="UpgradePending",
    )
    assert subscription(k8s, "authorino-operator")["status"]["installedCSV"] == old_csv
    merge_patch(k8s, V1A1, "InstallPlan", ip2["metadata"]["name"], {"spec": {"approved": True}}, "openshift-operators")
    wait_for(
        lambda: subscription(k8s, "authorino-operator")["status"].get("installedCSV") == new_csv,
        desc="installedCSV upgraded",
    )
    sub, csv = wait_installed(k8s, "authorino-operator")
    assert csv["metadata"]["name"] == new_csv and csv["spec"]["replaces"] == old_csv
    wait_for(
        lambda: get(k8s, V1A1, "ClusterServiceVersion", old_csv, "openshift-operators") is None, desc="old CSV removed"
    )
    dep = get(k8s, "apps/v1", "Deployment", "authorino-operator", "openshift-operators")
    assert [r["name"] for r in dep["metadata"]["ownerReferences"]] == [new_csv]


def test_starting_csv_installs_then_upgrades_to_channel_head(k8s):
    subscribe(k8s, "rhods-operator", channel="stable-2.16", starting_csv="rhods-operator.v2.16.0")
    wait_for(lambda: ip_for(k8s, "rhods-operator", "rhods-operator.v2.16.0"), desc="first InstallPlan")
    sub, csv = wait_installed(k8s, "rhods-operator", timeout=180)
    assert csv["metadata"]["name"] == "rhods-operator.v2.16.2"
    assert csv["spec"]["replaces"] == "rhods-operator.v2.16.0"
    assert len(installplans(k8s, "redhat-ods-operator")) == 2
    # the RHOAI operator creates default-dsci when it starts
    wait_for(
        lambda: get(k8s, "dscinitialization.opendatahub.io/v1", "DSCInitialization", "default-dsci"),
        desc="default-dsci",
    )


def test_unsupported_operatorgroup_fails_csv_and_package_delay(k8s):
    # nfd supports OwnNamespace/SingleNamespace only; an AllNamespaces OperatorGroup is refused
    set_fault(k8s, "nfd.delay", "6")
    apply(k8s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "openshift-nfd"}})
    apply(
        k8s,
        {
            "apiVersion": "operators.coreos.com/v1",
            "kind": "OperatorGroup",
            "metadata": {"name": "openshift-nfd-og", "namespace": "openshift-nfd"},
            "spec": {},
        },
    )
    subscribe(k8s, "nfd", og=False)
    csv_name = "nfd.v4.17.0-202411251033"

    def csv():
        return get(k8s, V1A1, "ClusterServiceVersion", csv_name, "openshift-nfd") or {}

    wait_for(
        lambda: csv().get("status", {}).get("reason") == "UnsupportedOperatorGroup", desc="UnsupportedOperatorGroup"
    )
    assert csv()["status"]["phase"] == "Failed"
    assert "AllNamespaces InstallModeType not supported" in csv()["status"]["message"]
    merge_patch(
        k8s,
        "operators.coreos.com/v1",
        "OperatorGroup",
        "openshift-nfd-og",
        {"spec": {"targetNamespaces": ["openshift-nfd"]}},
        "openshift-nfd",
    )
    wait_for(lambda: csv().get("status", {}).get("phase") == "Installing", desc="Installing")
    wait_installed(k8s, "nfd")
    # the package delay keeps the CSV Installing at least that long: read it from the CSV's own
    # phase history (second-granular timestamps), not from when this test happened to look
    history = csv()["status"]["conditions"]
    phases = [c["phase"] for c in history]
    assert phases[-1] == "Succeeded" and "Installing" in phases

    failed = max(i for i, c in enumerate(history) if c["phase"] == "Failed")
    since_fix = history[failed + 1:]  # after the OperatorGroup was fixed

    def at(phase):
        stamp = [c["lastTransitionTime"] for c in since_fix if c["phase"] == phase][0]
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")

    assert (at("Succeeded") - at("Installing")).total_seconds() >= 5, history


def test_fault_installplan_failed(k8s):
    set_fault(k8s, "gpu-operator-certified.installplan", "Failed")
    subscribe(k8s, "gpu-operator-certified")
    ns = "nvidia-gpu-operator"

    def failed_ip():
        return next((ip for ip in installplans(k8s, ns) if (ip.get("status") or {}).get("phase") == "Failed"), None)

    ip = wait_for(failed_ip, desc="failed InstallPlan")
    assert cond(ip, "Installed")["status"] == "False" and cond(ip, "Installed")["reason"] == "InstallComponentFailed"
    sub = wait_for(
        lambda: when(
            subscription(k8s, "gpu-operator-certified"), lambda s: s["status"].get("state") == "UpgradeFailed"
        ),
        desc="UpgradeFailed",
    )
    assert cond(sub, "InstallPlanFailed")["status"] == "True"
    assert not [c for c in items(k8s, V1A1, "ClusterServiceVersion", ns) if c["metadata"]["name"].startswith("gpu-")]
    assert get(k8s, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "clusterpolicies.nvidia.com") is None


def test_fault_csv_failed(k8s):
    ns = "nvidia-gpu-operator"
    set_fault(k8s, "gpu-operator-certified.csv", "Failed")
    # recover from the failed plan the way an admin does: delete it, OLM plans again
    for ip in installplans(k8s, ns):
        delete(k8s, V1A1, "InstallPlan", ip["metadata"]["name"], ns)
    csv_name = "gpu-operator-certified.v25.3.1"

    def csv():
        return get(k8s, V1A1, "ClusterServiceVersion", csv_name, ns) or {}

    wait_for(lambda: csv().get("status", {}).get("phase") == "Failed", desc="CSV Failed")
    assert csv()["status"]["reason"] == "InstallCheckFailed"
    clear_faults(k8s)
    wait_for(lambda: csv().get("status", {}).get("phase") == "Succeeded", desc="CSV recovers")
    wait_installed(k8s, "gpu-operator-certified")


def test_deleted_csv_is_installed_again_while_its_subscription_remains(k8s):
    """As OLM: deleting a CSV whose Subscription remains reinstalls it with a new InstallPlan
    (the earlier plan is Complete but installed nothing that exists any more)."""
    package, csv_name = "gpu-operator-certified", "gpu-operator-certified.v25.3.1"
    ns = OPERATORS[package][0]
    wait_installed(k8s, package)
    before = {ip["metadata"]["name"] for ip in ip_for(k8s, package, csv_name)}
    delete(k8s, V1A1, "ClusterServiceVersion", csv_name, ns)
    wait_for(lambda: {ip["metadata"]["name"] for ip in ip_for(k8s, package, csv_name)} - before, desc="a new plan")
    _sub, csv = wait_installed(k8s, package)
    assert csv["metadata"]["name"] == csv_name


def test_rhoai_216_reports_legacy_condition_names(k8s):
    """RHOAI 2.16 (installed above): kserveReady / ReconcileCompleted, no KserveReady."""
    dsc_api = ("datasciencecluster.opendatahub.io/v1", "DataScienceCluster")
    apply(
        k8s,
        {
            "apiVersion": dsc_api[0],
            "kind": dsc_api[1],
            "metadata": {"name": "default-dsc"},
            "spec": {
                "components": {"kserve": {"managementState": "Managed", "serving": {"managementState": "Managed"}}}
            },
        },
    )

    def ok():
        d = get(k8s, *dsc_api, "default-dsc")
        c = cond(d, "kserveReady")
        return d if c and c["status"] == "True" else None

    dsc = wait_for(ok, timeout=240, desc="kserveReady")
    assert cond(dsc, "kserveReady")["reason"] == "ReconcileCompleted"
    assert cond(dsc, "KserveReady") is None
    assert dsc["status"]["phase"] == "Ready" and dsc["status"]["installedComponents"]["kserve"] is True
    assert cond(dsc, "ReconcileComplete")["reason"] == "ReconcileCompleted"


def test_crashing_operator_makes_csv_component_unhealthy(k8s):
    csv_name = subscription(k8s, "servicemeshoperator")["status"]["installedCSV"]

    def csv():
        return get(k8s, V1A1, "ClusterServiceVersion", csv_name, "openshift-operators") or {}

    set_fault(k8s, "istio-operator.fail", "CrashLoopBackOff")
    wait_for(lambda: csv().get("status", {}).get("reason") == "ComponentUnhealthy", desc="ComponentUnhealthy")
    assert csv()["status"]["phase"] == "Failed"
    clear_faults(k8s)
    wait_for(lambda: csv().get("status", {}).get("phase") == "Succeeded", desc="CSV healthy again")


def test_manual_upgrade_steps_through_the_graph_one_installplan_per_step(k8s):
    """Installed v24.9.0 with Manual approval, the channel head v24.9.2 two steps away: OLM plans
    exactly the next CSV (v24.9.1, whose `replaces` is the installed one), waits for the approval,
    installs it, and only once it Succeeded plans the next step; never straight to the head."""
    package, ns = "gpu-operator-certified", OPERATORS["gpu-operator-certified"][0]
    v0, v1, v2 = ("gpu-operator-certified.v24.9.%s" % v for v in ("0", "1", "2"))
    # start from nothing: the tests above installed the v25.3 head here
    delete(k8s, V1A1, "Subscription", package, ns)
    for c in items(k8s, V1A1, "ClusterServiceVersion", ns):
        if c["metadata"]["name"].startswith(package + ".v"):
            delete(k8s, V1A1, "ClusterServiceVersion", c["metadata"]["name"], ns)
    for ip in installplans(k8s, ns):
        delete(k8s, V1A1, "InstallPlan", ip["metadata"]["name"], ns)
    wait_for(lambda: not [c for c in items(k8s, V1A1, "ClusterServiceVersion", ns)
                          if c["metadata"]["name"].startswith(package + ".v")] and not installplans(k8s, ns),
             desc="no CSV and no InstallPlan of the package left")

    def plan(csv_name, phase="RequiresApproval"):
        return when((ip_for(k8s, package, csv_name) or [None])[0], lambda p: (p.get("status") or {}).get("phase") == phase)

    def approve(ip):
        merge_patch(k8s, V1A1, "InstallPlan", ip["metadata"]["name"], {"spec": {"approved": True}}, ns)

    def succeeded(csv_name):
        sub = subscription(k8s, package) or {}
        csv = get(k8s, V1A1, "ClusterServiceVersion", csv_name, ns) or {}
        return (sub.get("status") or {}).get("installedCSV") == csv_name and \
            (csv.get("status") or {}).get("phase") == "Succeeded"

    subscribe(k8s, package, channel="v24.9", approval="Manual", starting_csv=v0)
    approve(wait_for(lambda: plan(v0), desc="InstallPlan for the starting CSV"))
    wait_for(lambda: succeeded(v0), desc=v0)

    # step 1: a plan for exactly the next CSV, waiting; nothing for the head
    ip1 = wait_for(lambda: plan(v1), desc="InstallPlan for " + v1)
    assert ip1["spec"]["clusterServiceVersionNames"] == [v1] and ip1["spec"]["approved"] is False
    sub = wait_for(lambda: when(subscription(k8s, package), lambda s: s["status"].get("currentCSV") == v1),
                   desc="currentCSV " + v1)
    assert sub["status"]["installedCSV"] == v0 and sub["status"]["state"] == "UpgradePending"
    assert cond(sub, "InstallPlanPending")["reason"] == "RequiresApproval"
    stays(lambda: not ip_for(k8s, package, v2) and get(k8s, V1A1, "ClusterServiceVersion", v1, ns) is None, 3,
          desc="no plan for the head and no new CSV before the approval")
    approve(ip1)
    wait_for(lambda: succeeded(v1), desc=v1)
    assert get(k8s, V1A1, "ClusterServiceVersion", v1, ns)["spec"]["replaces"] == v0
    wait_for(lambda: get(k8s, V1A1, "ClusterServiceVersion", v0, ns) is None, desc="replaced CSV removed")

    # step 2: the head, again Manual
    ip2 = wait_for(lambda: plan(v2), desc="InstallPlan for " + v2)
    assert ip2["spec"]["clusterServiceVersionNames"] == [v2] and ip2["spec"]["approved"] is False
    assert ip2["spec"]["generation"] == ip1["spec"]["generation"] + 1
    approve(ip2)
    sub, csv = wait_installed(k8s, package)
    assert csv["metadata"]["name"] == v2 and csv["spec"]["replaces"] == v1
    assert sub["status"]["state"] == "AtLatestKnown"

    # one InstallPlan per step, in order, each approved and Complete
    plans = sorted(installplans(k8s, ns), key=lambda p: p["spec"]["generation"])
    assert [p["spec"]["clusterServiceVersionNames"] for p in plans] == [[v0], [v1], [v2]]
    assert [p["spec"]["generation"] for p in plans] == [1, 2, 3]
    assert all(p["spec"]["approved"] and p["status"]["phase"] == "Complete" for p in plans)
    assert [(p["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/replaces") for p in plans] == ["", v0, v1]
