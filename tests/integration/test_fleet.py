"""A fleet of clusters from one inventory (issue 19): playbooks/install.yml over three testbeds at once.

Three dedicated testbeds, started in parallel: ``rosa`` (platform ROSA), ``aws-gpu`` (AWS, one GPU
node) and ``aws`` (AWS). One inventory, one host per cluster (``ansible_connection: local``, its own
``model_serving_kubeconfig``), ``--forks 3``. Three runs:

1. istiod of ``aws`` crash-loops (the testbed's fault ConfigMap, as tests/integration/test_faults.py
   does it) before the first run: ``rosa`` and ``aws-gpu`` converge on the automated path, ``aws``
   fails with its own diagnosis (the crash-looping istiod pod), and the fleet table says which is which;
2. the fault cleared: ``aws`` converges, the two others report ``changed=0``;
3. a rerun reports ``changed=0`` on all three.

Each converged cluster has the right install path and mesh identity type (ThirdParty on ROSA only),
in the table and on the cluster.
"""

import concurrent.futures
import json
import os
import shutil
import tempfile

import pytest
import yaml
from helpers import ansible_playbook
from install_support import INSTALL_TIMEOUT, PLAYBOOK
from k8s_util import wait_for
from testbed.cluster import Testbed
from testbed.pytest_plugin import dynamic_client
from testbed.sim.faults import clear_faults, set_fault

pytestmark = pytest.mark.integration

# name -> Testbed options, and whether the automated path itself sets the ThirdParty identity (ROSA only;
# elsewhere the mesh keeps the type the OpenShift AI operator gave it)
CLUSTERS = {
    "rosa": (dict(platform="ROSA", gpu_nodes=0), True),
    "aws-gpu": (dict(platform="AWS", gpu_nodes=1), False),
    "aws": (dict(platform="AWS", gpu_nodes=0), False),
}
FAULTY = "aws"
SMCP = ("maistra.io/v2", "ServiceMeshControlPlane", "data-science-smcp", "istio-system")


@pytest.fixture(scope="module")
def fleet():
    root = tempfile.mkdtemp(prefix="testbed-fleet-")
    beds = {name: Testbed(os.path.join(root, name), workers=2, **opts) for name, (opts, _rosa) in CLUSTERS.items()}
    try:
        with concurrent.futures.ThreadPoolExecutor(len(beds)) as pool:
            for future in [pool.submit(tb.up) for tb in beds.values()]:
                future.result()
        inventory = os.path.join(root, "hosts.yml")
        with open(inventory, "w") as f:
            yaml.safe_dump({"all": {
                "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                "hosts": {name: {"model_serving_kubeconfig": str(tb.kubeconfig)} for name, tb in beds.items()},
            }}, f)
        yield beds, inventory, {name: dynamic_client(str(tb.kubeconfig)) for name, tb in beds.items()}
    finally:
        with concurrent.futures.ThreadPoolExecutor(len(beds)) as pool:
            list(pool.map(lambda tb: tb.down(), beds.values()))
        shutil.rmtree(root, ignore_errors=True)


def _run(inventory):
    # No K8S_AUTH_KUBECONFIG: each host reaches its cluster with its own model_serving_kubeconfig.
    return ansible_playbook(PLAYBOOK, None, None, timeout=INSTALL_TIMEOUT, args=("-i", inventory, "--forks", "3"))


def _table(run):
    """{cluster: row fields} of the fleet table, and its header line."""
    for play in run.output.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] == "Print the fleet table":
                (res,) = task["hosts"].values()  # printed once
                lines = res["msg"]
                return {line.split()[0]: line.split(None, 6) for line in lines[2:]}, lines[0]
    raise AssertionError("no fleet table printed")


def _failed(run, host):
    return [(n, r) for n, r in run.task_results(host) if r.get("failed") and not r.get("ignore_errors")]


def _smcp_identity(k8s):
    obj = k8s.resources.get(api_version=SMCP[0], kind=SMCP[1]).get(name=SMCP[2], namespace=SMCP[3]).to_dict()
    return ((obj["spec"].get("security") or {}).get("identity") or {}).get("type") or "Kubernetes"


def _istiod_healthy(k8s):
    pods = [p.to_dict() for p in k8s.resources.get(api_version="v1", kind="Pod").get(namespace="istio-system").items]
    pods = [p for p in pods if p["metadata"]["name"].startswith("istiod-") and not p["metadata"].get("deletionTimestamp")]
    return pods and all(
        not (p["metadata"].get("annotations") or {}).get("testbed.openshift-ai.io/fail")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])
        for p in pods)


def _fact(run, host, task, name):
    facts = [r.get("ansible_facts", {}) for n, r in run.task_results(host) if n.endswith(task)]
    return facts[-1][name] if facts else None


def _assert_converged(run, table, k8s, name):
    assert run.stats[name].get("failures", 0) == 0, _failed(run, name)
    row = table[name]
    # cluster, path, platform, identity, OpenShift, RHOAI, result
    assert row[1] == "automated", row
    assert row[2] == ("AWS/ROSA" if name == "rosa" else "AWS"), row
    assert row[3] == _smcp_identity(k8s), row  # what the control plane has
    if CLUSTERS[name][1]:
        assert row[3] == "ThirdParty", row
    assert row[-1].endswith("converged"), row
    # the decision of this host, not of another one
    automated = _fact(run, name, "Publish the result of the automated install", "kserve_automated_result")
    if automated is not None:  # run 1 and the broken cluster's rerun; a no-op rerun publishes it too
        assert str(automated["third_party_identity"]).lower() == str(CLUSTERS[name][1]).lower(), automated


def test_fleet_install(fleet):
    beds, inventory, clients = fleet

    # 1. One cluster broken: the two others converge, the broken one fails with its own diagnosis.
    set_fault(clients[FAULTY], "istiod.fail", "CrashLoopBackOff")
    first = _run(inventory)
    assert first.rc != 0, first.stats
    table, head = _table(first)
    assert head.startswith("Fleet: 3 cluster(s), 1 failed"), head
    assert sorted(table) == sorted(CLUSTERS), table
    for name in CLUSTERS:
        if name != FAULTY:
            _assert_converged(first, table, clients[name], name)
    assert first.stats[FAULTY].get("failures") == 1, first.stats
    assert "FAILED" in table[FAULTY][-1], table[FAULTY]
    diagnosis = json.dumps(_failed(first, FAULTY))
    assert "istiod" in diagnosis and "CrashLoopBackOff" in diagnosis, diagnosis[-3000:]
    for name in CLUSTERS:
        if name != FAULTY:  # the diagnosis is the broken cluster's alone
            assert not _failed(first, name)

    # 2. Fault cleared: the broken cluster converges; the others change nothing.
    clear_faults(clients[FAULTY])
    wait_for(lambda: _istiod_healthy(clients[FAULTY]), 180, 0.5, "istiod healthy again")
    second = _run(inventory)
    assert second.rc == 0, {n: _failed(second, n) for n in CLUSTERS}
    table, head = _table(second)
    assert head.startswith("Fleet: 3 cluster(s), 0 failed"), head
    for name in CLUSTERS:
        _assert_converged(second, table, clients[name], name)
        if name != FAULTY:
            assert second.stats[name].get("changed") == 0, [n for n, r in second.task_results(name) if r.get("changed")]

    # 3. The rerun changes nothing anywhere.
    third = _run(inventory)
    assert third.rc == 0, {n: _failed(third, n) for n in CLUSTERS}
    for name in CLUSTERS:
        assert third.stats[name].get("changed") == 0, [n for n, r in third.task_results(name) if r.get("changed")]
    print("\nfleet runs (s): broken %.0f, converge %.0f, rerun %.0f" % (first.duration, second.duration, third.duration))
