"""Molecule scenario `automated` (converge, idempotence, verify) against a fresh testbed."""

import os
import re
import subprocess
import sys

import pytest

from helpers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.molecule]


def test_molecule_automated(fresh_testbed):
    tb = fresh_testbed(gpu_nodes=0, platform="AWS")
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ)
    env.update({
        "K8S_AUTH_KUBECONFIG": str(tb.kubeconfig),
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
    })
    env.pop("ANSIBLE_CONFIG", None)  # molecule writes its own
    proc = subprocess.run(
        [os.path.join(venv_bin, "molecule"), "test", "-s", "automated"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=1800, check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-8000:]
    for step in ("syntax", "converge", "idempotence", "verify"):
        # "automated ➜ converge: ..." with colours, "automated > converge: ..." without
        assert re.search(r"automated \S+ %s: Executed: Successful" % step, out), (step, out[-4000:])
