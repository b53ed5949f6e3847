"""Testbed: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) with kwok-simulated nodes and the OpenShift API surface, on one machine.

CLI: ``python -m testbed up|down|status``; Python: ``testbed.cluster.Testbed``.
"""

from .cluster import DEFAULT_STATE_DIR, Testbed, TestbedError  # noqa: F401
