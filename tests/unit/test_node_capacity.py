"""Node capacity preflight (seed 000 §3.2/§3.3: one node with 4 CPUs and 16 GB): a pure decision."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import quantity
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._platform import node_capacity

MINIMUM = {"cpu": "4", "memory": "16Gi"}


def node(name, cpu, memory, unschedulable=False, taints=None):
    return {
        "metadata": {"name": name},
        "spec": dict({"unschedulable": True} if unschedulable else {}, **({"taints": taints} if taints else {})),
        "status": {"allocatable": {"cpu": cpu, "memory": memory}},
    }


@pytest.mark.parametrize("text,value", [
    ("4", 4.0), ("3500m", 3.5), ("16Gi", 16 * 2 ** 30), ("15G", 15e9), ("16384Mi", 16 * 2 ** 30),
    ("65811448Ki", 65811448 * 1024), (2, 2.0), ("1.5", 1.5), ("100k", 1e5),
])
def test_quantities(text, value):
    assert quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "four", "4 cores", "Gi", True, "1.2.3"])
def test_not_quantities(text):
    with pytest.raises(ValueError):
        quantity(text)


def test_one_node_large_enough_passes_and_is_named():
    got = node_capacity([node("small", "2", "8Gi"), node("big", "15500m", "62Gi")], MINIMUM)
    assert got["ok"] is True
    assert got["fitting"] == ["big"]
    assert [n["name"] for n in got["nodes"]] == ["big", "small"]
    assert "big" in got["message"]


def test_all_nodes_too_small_names_the_largest():
    got = node_capacity([node("a", "2", "8Gi"), node("b", "3", "31Gi"), node("c", "4", "15Gi")], MINIMUM)
    assert got["ok"] is False and got["fitting"] == []
    assert "4 CPU and 16Gi" in got["message"]
    assert "c (4 CPU, 15 GiB)" in got["message"] and "b (3 CPU, 31 GiB)" in got["message"]


def test_exactly_the_minimum_fits_and_memory_in_other_units():
    assert node_capacity([node("a", "4", "16384Mi")], MINIMUM)["ok"] is True
    assert node_capacity([node("a", "4000m", "17179869184")], MINIMUM)["ok"] is True


def test_unschedulable_or_tainted_nodes_do_not_count_but_gpu_taint_does():
    nodes = [
        node("cordoned", "32", "128Gi", unschedulable=True),
        node("master", "32", "128Gi", taints=[{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]),
    ]
    got = node_capacity(nodes, MINIMUM)
    assert got["ok"] is False and "not schedulable" in got["message"]
    gpu = node("gpu", "32", "128Gi", taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    assert node_capacity(nodes + [gpu], MINIMUM)["fitting"] == ["gpu"]


def test_without_minimum_only_reports():
    got = node_capacity([node("a", "2", "8Gi")])
    assert got["ok"] is None and got["minimum"] is None and got["nodes"][0]["cpu"] == 2


def test_no_nodes_readable():
    got = node_capacity([], MINIMUM)
    assert got["ok"] is False and "none" in got["message"]


def test_unparsable_allocatable_counts_as_zero():
    got = node_capacity([node("odd", "lots", "16Gi")], MINIMUM)
    assert got["ok"] is False and got["nodes"][0]["cpu"] == 0
