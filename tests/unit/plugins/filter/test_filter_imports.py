"""Every task that uses one of the collection's filters loads the filter file again in its worker
process, so a filter that pulls in the kubernetes library (about 0.35 s of imports) costs that on
every task, skipped ones included. The filters and the decision modules they use stay free of it."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FILTERS = os.path.join(REPO, "plugins", "filter")


def test_no_filter_imports_the_kubernetes_library():
    names = sorted(f[:-3] for f in os.listdir(FILTERS) if f.endswith(".py") and not f.startswith("_"))
    assert names, FILTERS
    code = (
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "for name in %r:\n"
        "    __import__('ansible_collections.openshift_ai.model_serving.plugins.filter.' + name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3', 'cryptography'))\n"
        "print(','.join(heavy))\n"
    ) % (os.path.join(REPO, ".collections"), names)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", "filter plugins import %s" % out
