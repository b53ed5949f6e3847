"""Shared pytest configuration: the testbed fixtures (``testbed``, ``kubeconfig``, ``k8s``,
``fresh_testbed``) come from testbed/pytest_plugin.py; see docs/contracts.md."""

pytest_plugins = ["testbed.pytest_plugin"]
