"""Packaging for Automation Platform (issue 16): the built collection, its execution environment.

- ``ansible-galaxy collection build`` gives a small tarball without the development environment
  (venv, testbed, collections path, test output, benchmarks, earlier builds) but with everything a run needs;
- installed offline into an EMPTY collections path, it refuses to install without kubernetes.core (the
  dependency is declared) and installs with it (taken from the venv: Galaxy is not reachable here);
- ``ansible-builder introspect`` on that path finds the collection's Python requirements through
  meta/execution-environment.yml; ``ansible-builder create`` writes the build context offline;
- a project playbook importing ``openshift_ai.model_serving.install`` (what an Automation Platform
  job template runs) resolves against the installed collection;
- ``openshift_ai.model_serving.install`` FROM THE INSTALLED COLLECTION installs the platform on a
  dedicated testbed (RawDeployment: the cheapest install), authenticated the way Automation Platform's
  "OpenShift or Kubernetes API Bearer Token" credential does it (K8S_AUTH_HOST, K8S_AUTH_API_KEY,
  K8S_AUTH_SSL_CA_CERT in the environment; no kubeconfig). Nothing of the work tree is on the paths.

Self-contained: everything lives under this module's temp dirs and its own testbed.
"""

import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from helpers import REPO, VENV_BIN, AnsibleRun, _parse_json_output, ansible_env
from install_support import INSTALL_TIMEOUT, failure_text

pytestmark = pytest.mark.integration

COLLECTION = ("openshift_ai", "model_serving")
# Paths of the work tree that must never be in the tarball (first path component, or a prefix).
FORBIDDEN = (".venv/", ".testbed/", ".collections/", ".ansible/", ".pytest_cache/", ".git/", ".ci/", "testbed/",
             "bench/", "tests/output/", "Makefile")
# What a run of the playbooks needs from the collection.
REQUIRED = ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "meta/execution-environment.yml", "requirements.txt",
            "requirements.yml", "execution-environment.yml", "playbooks/install.yml", "playbooks/deploy_models.yml",
            "plugins/module_utils/_client.py", "plugins/modules/platform_info.py", "docs/automation-platform.md")
MAX_TARBALL = 2 * 1024 * 1024  # about 0.6 MB today


def _run(cmd, env=None, cwd=None, timeout=300):
    return subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)


def _installed_dependency(namespace, name):
    """An installed copy of a collection this machine already has (the venv's ``ansible`` package, or
    the project's .collections): there is no Galaxy to download it from."""
    roots = [os.path.join(REPO, ".collections")] + [p for p in sys.path if p.endswith("site-packages")]
    for root in roots:
        path = os.path.join(root, "ansible_collections", namespace, name)
        if os.path.isfile(os.path.join(path, "MANIFEST.json")):
            return path
    pytest.fail("no installed %s.%s on this machine (looked in %s)" % (namespace, name, roots))


def _isolated_env(base, collections_paths, extra=None):
    """An ansible environment that sees only ``collections_paths``: its own ansible.cfg, no sys.path
    scan (the venv's ansible package ships hundreds of collections), no kubeconfig or K8S_AUTH_* of the
    caller."""
    env = ansible_env(None, extra)
    for key in list(env):
        if key.startswith("K8S_AUTH_") or key in ("KUBECONFIG", "ANSIBLE_COLLECTIONS_PATHS", "ANSIBLE_INVENTORY"):
            del env[key]
    env.update({
        "ANSIBLE_CONFIG": os.path.join(base, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(collections_paths),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
        "ANSIBLE_ROLES_PATH": os.path.join(base, "roles"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(base, "tmp"),
    })
    env.update(extra or {})
    return env


def _galaxy_install(env, path, *sources):
    cmd = [os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", path] + list(sources)
    return _run(cmd, env=env)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The built tarball, installed with its dependency into an empty collections path."""
    base = str(tmp_path_factory.mktemp("packaging"))
    for d in ("dist", "collections", "tools", "roles", "tmp"):
        os.makedirs(os.path.join(base, d))
    with open(os.path.join(base, "ansible.cfg"), "w") as f:
        f.write("[defaults]\nretry_files_enabled = false\ninterpreter_python = auto_silent\n")
    collections, tools = os.path.join(base, "collections"), os.path.join(base, "tools")
    env = _isolated_env(base, [collections, tools])

    res = _run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--output-path",
                os.path.join(base, "dist"), REPO], env=env)
    assert res.returncode == 0, res.stdout
    tarballs = glob.glob(os.path.join(base, "dist", "%s-%s-*.tar.gz" % COLLECTION))
    assert len(tarballs) == 1, (tarballs, res.stdout)

    # Without its dependency the offline install must fail, naming it (galaxy.yml declares it).
    bare = os.path.join(base, "bare")
    res = _galaxy_install(env, bare, tarballs[0])
    refused = (res.returncode, res.stdout)
    # With it: the collection and kubernetes.core, nothing else.
    res = _galaxy_install(env, collections, tarballs[0], _installed_dependency("kubernetes", "core"))
    assert res.returncode == 0, res.stdout
    # The JSON output callback of the tests (a test tool, not a dependency) in a path of its own; a plain
    # copy (ansible-galaxy would build and install the whole collection for one callback).
    shutil.copytree(_installed_dependency("ansible", "posix"), os.path.join(tools, "ansible_collections", "ansible", "posix"),
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    return {"base": base, "tarball": tarballs[0], "collections": collections, "tools": tools, "env": env,
            "refused": refused}


def test_tarball_is_small_and_holds_what_a_run_needs_and_nothing_of_the_work_tree(built):
    size = os.path.getsize(built["tarball"])
    assert 0 < size < MAX_TARBALL, "tarball is %d bytes" % size
    with tarfile.open(built["tarball"]) as tar:
        names = [n[2:] if n.startswith("./") else n for n in tar.getnames()]
    files = [n for n in names if not n.endswith("/")]
    bad = sorted(n for n in names if n.startswith(FORBIDDEN) or n.rstrip("/") in [f.rstrip("/") for f in FORBIDDEN]
                 or "__pycache__" in n or n.endswith((".pyc", ".tar.gz", ".log")))
    assert not bad, "the tarball holds paths of the work tree: %s" % bad[:30]
    missing = [n for n in REQUIRED if n not in files]
    assert not missing, "the tarball lacks %s" % missing
    # Every role with its argument specs, tasks and defaults as in the work tree.
    for role in sorted(os.listdir(os.path.join(REPO, "roles"))):
        for rel in ("meta/argument_specs.yml", "tasks/main.yml"):
            if os.path.isfile(os.path.join(REPO, "roles", role, rel)):
                assert "roles/%s/%s" % (role, rel) in files, "roles/%s/%s not in the tarball" % (role, rel)
    # Every module, filter and module_utils file of the work tree.
    for path in glob.glob(os.path.join(REPO, "plugins", "*", "*.py")):
        rel = os.path.relpath(path, REPO)
        assert rel in files, "%s not in the tarball" % rel
    print("tarball %s: %d bytes, %d files" % (os.path.basename(built["tarball"]), size, len(files)))


def test_dependency_is_declared_and_installs_offline(built):
    rc, out = built["refused"]
    assert rc != 0 and "kubernetes.core" in out, out
    root = os.path.join(built["collections"], "ansible_collections")
    assert sorted(os.listdir(root)) == ["kubernetes", "openshift_ai"]
    res = _run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "list", "--format", "json"], env=built["env"])
    assert res.returncode == 0, res.stdout
    listed = json.loads(res.stdout[res.stdout.find("{"):])
    # (ansible-core's own internal collection, ansible._protomatter, is always there)
    found = sorted(name for path in listed.values() for name in path if not name.startswith("ansible._"))
    assert found == ["ansible.posix", "kubernetes.core", "openshift_ai.model_serving"], listed
    with open(os.path.join(root, "openshift_ai", "model_serving", "MANIFEST.json")) as f:
        manifest = json.load(f)["collection_info"]
    assert "kubernetes.core" in manifest["dependencies"]


def test_execution_environment_introspect_and_create_offline(built, tmp_path):
    with open(os.path.join(REPO, "execution-environment.yml")) as f:
        ee = yaml.safe_load(f)
    assert ee["version"] == 3
    assert ee["dependencies"]["python"] == "requirements.txt" and ee["dependencies"]["galaxy"] == "requirements.yml"
    with open(os.path.join(REPO, "meta", "execution-environment.yml")) as f:
        assert yaml.safe_load(f)["dependencies"]["python"] == "requirements.txt"

    builder = os.path.join(VENV_BIN, "ansible-builder")
    # The installed collection's Python requirements, as ansible-builder reads them when the collection is
    # in an EE's galaxy requirements (through meta/execution-environment.yml).
    res = _run([builder, "introspect", "--sanitize", built["collections"]], env=built["env"])
    assert res.returncode == 0, res.stdout
    introspected = yaml.safe_load(res.stdout[res.stdout.find("python:"):])
    reqs = [r for r in introspected["python"] if r.endswith("from collection openshift_ai.model_serving")]
    assert any(line.startswith("kubernetes") for line in reqs), res.stdout
    assert not any(line.startswith("ansible-core") for line in reqs), res.stdout

    context = str(tmp_path / "context")
    res = _run([builder, "create", "-f", os.path.join(REPO, "execution-environment.yml"), "-c", context,
                "--output-filename", "Containerfile"], env=built["env"], cwd=str(tmp_path))
    assert res.returncode == 0, res.stdout
    for rel in ("Containerfile", "_build/requirements.txt", "_build/requirements.yml", "_build/scripts/assemble",
                "_build/scripts/introspect.py"):
        assert os.path.isfile(os.path.join(context, rel)), "%s missing from the build context: %s" % (
            rel, sorted(os.listdir(context)))
    with open(os.path.join(context, "_build", "requirements.yml")) as f:
        assert [c["name"] for c in yaml.safe_load(f)["collections"]] == ["kubernetes.core"]
    with open(os.path.join(context, "_build", "requirements.txt")) as f:
        assert "kubernetes" in f.read()
    with open(os.path.join(context, "Containerfile")) as f:
        containerfile = f.read()
    assert ee["images"]["base_image"]["name"] in containerfile
    assert "ansible-galaxy collection install" in containerfile and "requirements.yml" in containerfile


def test_a_project_playbook_imports_the_installed_collection_playbooks(built):
    """What a job template runs: a playbook of the project that imports the collection's playbook."""
    project = os.path.join(built["base"], "project")
    os.makedirs(project, exist_ok=True)
    for name in ("install", "deploy_models"):
        with open(os.path.join(project, "%s.yml" % name), "w") as f:
            f.write("---\n- name: %s\n  ansible.builtin.import_playbook: openshift_ai.model_serving.%s\n" % (name, name))
        res = _run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "--list-tasks",
                    os.path.join(project, "%s.yml" % name)], env=dict(built["env"], ANSIBLE_STDOUT_CALLBACK="default"),
                   cwd=project)
        assert res.returncode == 0, res.stdout
        assert REPO not in res.stdout, res.stdout
    assert "Validate the playbook variables" in res.stdout or "deploy" in res.stdout.lower(), res.stdout


def _bearer_token_credential(kubeconfig, base):
    """A ServiceAccount token bound to cluster-admin, and the environment Automation Platform's
    "OpenShift or Kubernetes API Bearer Token" credential injects for it."""
    from testbed.pytest_plugin import dynamic_client

    k8s = dynamic_client(kubeconfig)
    ns = "aap-credentials"
    k8s.resources.get(api_version="v1", kind="Namespace").create(body={"metadata": {"name": ns}})
    k8s.resources.get(api_version="v1", kind="ServiceAccount").create(namespace=ns, body={"metadata": {"name": "aap"}})
    k8s.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRoleBinding").create(body={
        "metadata": {"name": "aap-installer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "aap", "namespace": ns}]})
    token = k8s.request("POST", "/api/v1/namespaces/%s/serviceaccounts/aap/token" % ns, body={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}},
    ).status.token
    with open(kubeconfig) as f:
        cluster = yaml.safe_load(f)["clusters"][0]["cluster"]
    ca = os.path.join(base, "ca.crt")
    if cluster.get("certificate-authority-data"):
        with open(ca, "wb") as f:
            f.write(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        ca = cluster["certificate-authority"]
    return k8s, token, {"K8S_AUTH_HOST": cluster["server"], "K8S_AUTH_API_KEY": token,
                        "K8S_AUTH_VERIFY_SSL": "True", "K8S_AUTH_SSL_CA_CERT": ca}


def test_installed_collection_installs_the_platform_with_a_bearer_token(built, fresh_testbed):
    tb = fresh_testbed(workers=1, gpu_nodes=0, platform="AWS")
    base = built["base"]
    k8s, token, credential = _bearer_token_credential(str(tb.kubeconfig), base)
    inventory = os.path.join(base, "inventory.yml")
    with open(inventory, "w") as f:
        yaml.safe_dump({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}, f)
    extra_vars = os.path.join(base, "extra_vars.json")  # what a job template's survey answers become
    with open(extra_vars, "w") as f:
        json.dump({"model_serving_deployment_mode": "RawDeployment"}, f)

    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, "-e", "@" + extra_vars,
           "openshift_ai.model_serving.install"]
    env = _isolated_env(base, [built["collections"], built["tools"]], credential)
    proc = _run(cmd, env=env, cwd=base, timeout=INSTALL_TIMEOUT)
    try:
        run = AnsibleRun(proc.returncode, _parse_json_output(proc.stdout), "", 0)
    except ValueError:
        raise AssertionError("no JSON output (rc=%s):\n%s" % (proc.returncode, proc.stdout[-4000:]))
    assert run.rc == 0, failure_text(run)[-4000:] or proc.stdout[-4000:]
    assert run.stats["localhost"].get("changed", 0) > 0, run.stats
    assert token not in proc.stdout, "the bearer token is in the output"
    assert REPO not in proc.stdout, "the run used the work tree"

    dsc = k8s.resources.get(api_version="datasciencecluster.opendatahub.io/v1", kind="DataScienceCluster").get(
        name="default-dsc").to_dict()
    kserve = dsc["spec"]["components"]["kserve"]
    assert (kserve["managementState"], kserve["defaultDeploymentMode"]) == ("Managed", "RawDeployment"), kserve
    ready = [c for c in dsc["status"].get("conditions", []) if c["type"] == "KserveReady"]
    assert ready and ready[0]["status"] == "True", dsc["status"]
