"""The names several roles share have one home for the playbooks (playbooks/vars/shared.yml), and no role
default reads another role's variable (issue 18: no back-edges between roles).

Each value of the shared map follows the variable of the role that owns the object, with that role's
default as the fallback: the fallback must stay equal to the role default, which this test checks.
"""

import ast
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))
FOLLOW = re.compile(r"^\{\{ ([a-z][a-z0-9_]*) \| default\((.+)\) \}\}$")


def _defaults(role):
    path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return yaml.safe_load(f) or {}


def _literal(text):
    return ast.literal_eval({"true": "True", "false": "False"}.get(text, text))


def _owner(variable):
    owners = [r for r in ROLES if variable.startswith(r + "_") and variable in _defaults(r)]
    assert len(owners) == 1, "%s: no single role defines it (%s)" % (variable, owners)
    return owners[0]


def test_every_shared_name_follows_its_owner_role_with_that_roles_default():
    with open(os.path.join(ROOT, "playbooks", "vars", "shared.yml")) as f:
        shared = yaml.safe_load(f)["__model_serving_shared"]
    assert {"mesh_name", "mesh_namespace", "serving_name", "serving_namespace"} <= set(shared)
    for key, value in shared.items():
        match = FOLLOW.match(value)
        assert match, "%s: %r is not '{{ <role variable> | default(<literal>) }}'" % (key, value)
        variable, fallback = match.groups()
        assert _literal(fallback) == _defaults(_owner(variable))[variable], (key, variable, fallback)


def test_no_role_default_reads_another_roles_variable():
    found = []
    for role in ROLES:
        for name, value in _defaults(role).items():
            text = yaml.safe_dump(value)
            for word in re.findall(r"\b[a-z][a-z0-9_]*\b", text if "{{" in text else ""):
                if any(word.startswith(other + "_") for other in ROLES if other != role and not role.startswith(other + "_")):
                    found.append("%s: %s reads %s" % (role, name, word))
    assert found == []
