"""Shared pytest configuration: the testbed fixtures (``testbed``, ``kubeconfig``, ``k8s``,
``fresh_testbed``) come from testbed/pytest_plugin.py; see testbed/README.md and tests/README.md."""

pytest_plugins = ["testbed.pytest_plugin"]
