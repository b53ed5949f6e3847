"""Unit tests import the collection as ``ansible_collections.openshift_ai.model_serving``."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".collections")
if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "openshift_ai", "model_serving")):
    raise RuntimeError("run `make venv` first: %s/ansible_collections/openshift_ai/model_serving is missing" % COLLECTIONS)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
