"""Static checks of the whole collection: ``ansible-test sanity`` and ``ansible-lint --profile production``.

Neither may use an ignore file; both must pass.

How ansible-test runs here (no docker, no network except PyPI):

* ansible-test needs the collection at ``.../ansible_collections/openshift_ai/model_serving``; the
  repo's symlink resolves to the real path, which ansible-test rejects. So the collection content
  (git-tracked and untracked-but-not-ignored files, minus galaxy.yml ``build_ignore``, i.e. what
  ``ansible-galaxy collection build`` ships) is copied into a temporary tree.
* ``--local --python 3.11``: the interpreter of this venv; the only Python installed. ansible-test
  still creates one virtualenv per sanity test and installs its pinned requirements from PyPI.
* Those virtualenvs are bootstrapped with a pip bootstrap script that ansible-test downloads from
  ci-files.testing.ansible.com, which is unreachable here. ansible-test reads it from its cache
  (``~/.ansible/test/cache/get_pip_<version>.py``) when present, so we run ansible-test with
  ``HOME=tests/output/sanity-home`` and put there a small stand-in script that runs pip from the
  pip wheel (downloaded from PyPI) with the same command-line semantics. The virtualenvs are cached
  in that directory between runs (``make clean`` removes it).
* Skipped sanity tests: none. ``pslint`` and ``shellcheck`` only run when there are PowerShell or
  shell files in the collection content (there are none: ``testbed/`` and ``.ci/`` are build_ignore'd).
"""

import fnmatch
import glob
import os
import shutil
import subprocess
import sys

import pytest
import yaml

pytestmark = [pytest.mark.sanity, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
PYTHON_VERSION = "%d.%d" % sys.version_info[:2]
SANITY_HOME = os.path.join(REPO, "tests", "output", "sanity-home")

BOOTSTRAP = '''"""Offline stand-in for ansible-test's pip bootstrap script (get-pip), written by
tests/sanity/test_sanity.py: runs pip from the wheel next to this file, like get-pip does:
install --upgrade --force-reinstall <args> pip [setuptools] [wheel]."""
import argparse
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sorted(glob.glob(os.path.join(HERE, "pip-%s-*.whl")))[-1])
PRE = argparse.ArgumentParser(add_help=False)
PRE.add_argument("--no-setuptools", action="store_true")
PRE.add_argument("--no-wheel", action="store_true")
OPTS, REST = PRE.parse_known_args()
from pip._internal.cli.main import main  # noqa: E402

EXTRA = ["pip"] + ([] if OPTS.no_setuptools else ["setuptools"]) + ([] if OPTS.no_wheel else ["wheel"])
sys.exit(main(["install", "--upgrade", "--force-reinstall"] + REST + EXTRA))
'''


def _run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False, **kw)


def collection_files():
    """Files of the collection as ansible-galaxy would build it."""
    out = subprocess.check_output(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO, universal_newlines=True
    )
    with open(os.path.join(REPO, "galaxy.yml")) as f:
        ignore = yaml.safe_load(f).get("build_ignore") or []
    files = []
    for path in filter(None, out.split("\0")):
        if not os.path.isfile(os.path.join(REPO, path)):
            continue  # deleted in the working tree
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pat.rstrip("/")) for pat in ignore for p in prefixes):
            continue
        files.append(path)
    return files


def pip_version_for_bootstrap():
    """The pip version ansible-test bootstraps into its virtualenvs (a pin inside ansible-test)."""
    from ansible_test._internal.host_configs import NativePythonConfig  # pylint: disable=import-error
    from ansible_test._internal.python_requirements import get_venv_packages  # pylint: disable=import-error

    return get_venv_packages(NativePythonConfig(version=PYTHON_VERSION, path=sys.executable))["pip"]


def prepare_bootstrap():
    cache = os.path.join(SANITY_HOME, ".ansible", "test", "cache")
    os.makedirs(cache, exist_ok=True)
    version = pip_version_for_bootstrap()
    if not glob.glob(os.path.join(cache, "pip-%s-*.whl" % version)):
        res = _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", cache, "pip==%s" % version])
        assert res.returncode == 0, res.stdout
    with open(os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_")), "w") as f:
        f.write(BOOTSTRAP % version)


@pytest.fixture(scope="module")
def collection_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("sanity") / "ansible_collections" / "openshift_ai" / "model_serving"
    for path in collection_files():
        dest = root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), str(dest), follow_symlinks=False)
    return root


def test_no_ignore_files():
    assert glob.glob(os.path.join(REPO, "tests", "sanity", "ignore-*.txt")) == []
    assert not os.path.exists(os.path.join(REPO, ".ansible-lint-ignore"))
    with open(os.path.join(REPO, ".ansible-lint")) as f:
        config = yaml.safe_load(f)
    assert not config.get("skip_list") and not config.get("warn_list"), "rules may not be skipped"
    assert config.get("profile") == "production"


def test_ansible_test_sanity(collection_tree):
    prepare_bootstrap()
    env = dict(os.environ)
    env.update(HOME=SANITY_HOME, PATH=VENV_BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_CONFIG="/dev/null")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    res = _run(
        [os.path.join(VENV_BIN, "ansible-test"), "sanity", "--local", "--python", PYTHON_VERSION, "--color", "no"],
        cwd=str(collection_tree),
        env=env,
        timeout=3600,
    )
    errors = [line for line in res.stdout.splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert res.returncode == 0, "ansible-test sanity failed:\n%s\n\n--- tail ---\n%s" % (
        "\n".join(errors),
        res.stdout[-3000:],
    )


def test_ansible_lint_production():
    env = dict(os.environ)
    env.update(PATH=VENV_BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    res = _run(
        [os.path.join(VENV_BIN, "ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
        cwd=REPO,
        env=env,
        timeout=1800,
    )
    assert res.returncode == 0, "ansible-lint --profile production failed:\n%s" % res.stdout[-6000:]
