"""Tests of the testbed itself: the control plane, its parts and the simulated operators.

They run in the same pytest session as the collection's tests (``make test`` collects ``tests`` and
``testbed/tests``) and share their fixtures (testbed/pytest_plugin.py) and the simulated-cluster
helpers of tests/integration/test_sim_support.py.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELPERS = os.path.join(REPO, "tests", "integration")
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)

pytest_plugins = ["testbed.pytest_plugin"]
