"""With default variables, the objects the manual-path roles create are the seed's objects.

The seed (000 §3.3) documents every object of the manual KServe install as YAML. Those documents
are transcribed in ``fixtures/seed_000/`` (see its README for the few restorations). This test
loads each role the way Ansible does (``include_role`` of its ``validate`` entry point, so the
defaults, vars and argument spec apply), renders the objects the role sends to the cluster, and
compares them with the seed, field for field: nothing missing, nothing added, no value changed.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "seed_000")
VENV_BIN = os.path.dirname(sys.executable)

# What each role renders: the variable holding its object list, plus patches sent to objects
# created by others (keyed like the fixtures' x-target).
RENDER_PLAY = r"""
- name: Render the objects of the manual-path roles with default variables
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Load each role (defaults, vars, argument spec) through its validate entry point
      ansible.builtin.include_role:
        name: "openshift_ai.model_serving.{{ item }}"
        tasks_from: validate
        public: true
      loop: [service_mesh, serverless, serving_gateways, kserve, authorino]

    - name: Write the rendered objects
      ansible.builtin.copy:
        dest: "{{ render_dest }}"
        mode: "0600"
        content: "{{ rendered | to_nice_json }}"
      vars:
        rendered:
          service_mesh: "{{ __service_mesh_objects }}"
          serverless: "{{ __serverless_objects }}"
          serving_gateways: "{{ __serving_gateways_objects }}"
          kserve: "{{ __kserve_objects }}"
          authorino: "{{ __authorino_objects }}"
          patches:
            Deployment/authorino: "{{ __authorino_deployment_patch }}"
            ServiceMeshControlPlane/minimal: "{{ __authorino_smcp_patch }}"
"""

FIXTURE_FOR_ROLE = {
    "service_mesh": "3.3.1.1_service_mesh.yaml.txt",
    "serverless": "3.3.1.2_serverless.yaml.txt",
    "serving_gateways": "3.3.1.3_serving_gateways.yaml.txt",
    "kserve": "3.3.2_kserve.yaml.txt",
    "authorino": "3.3.3_authorino.yaml.txt",
}


def load_fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def strip_meta(doc):
    return {k: v for k, v in doc.items() if not k.startswith("x-")}


@pytest.fixture(scope="module")
def rendered():
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        }
    )
    # No cluster is involved; make sure nothing could reach one.
    env.pop("K8S_AUTH_KUBECONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        play = os.path.join(tmp, "render.yml")
        dest = os.path.join(tmp, "rendered.json")
        with open(play, "w") as f:
            f.write(RENDER_PLAY)
        proc = subprocess.run(
            [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", play, "-e", "render_dest=" + dest],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            universal_newlines=True,
            check=False,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout
        with open(dest) as f:
            return json.load(f)


def test_fixtures_cover_every_seed_procedure():
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "*.yaml.txt")))
    assert names == sorted(FIXTURE_FOR_ROLE.values())


def key(obj):
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


@pytest.mark.parametrize("role", sorted(FIXTURE_FOR_ROLE))
def test_role_objects_match_seed(rendered, role):
    seed = [strip_meta(d) for d in load_fixture(FIXTURE_FOR_ROLE[role]) if "x-target" not in d]
    ours = rendered[role]
    assert [key(o) for o in ours] == [key(o) for o in seed], "objects or their order differ from the seed"
    for mine, theirs in zip(ours, seed):
        assert mine == theirs, "%s/%s differs from the seed" % key(theirs)[::2]


def test_patches_match_seed(rendered):
    patches = [d for d in load_fixture(FIXTURE_FOR_ROLE["authorino"]) if "x-target" in d]
    assert len(patches) == 2
    for doc in patches:
        target = doc["x-target"]
        ours = rendered["patches"]["%s/%s" % (target["kind"], target["name"])]
        assert ours == strip_meta(doc), "patch of %s/%s differs from the seed" % (target["kind"], target["name"])


def test_envoy_filter_lua_is_the_seed_code(rendered):
    """The Lua is compared as text above; here, also check it is balanced (every block closed)."""
    ef = [o for o in rendered["authorino"] if o["kind"] == "EnvoyFilter"][0]
    code = ef["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["inlineCode"]
    words = code.replace("(", " ").replace(")", " ").split()
    opened = words.count("function") + words.count("if")
    assert opened == words.count("end")
