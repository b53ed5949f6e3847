"""install.yml validates each role once (issue 18): step (1) runs every role's `validate` entry point, and the
include_role tasks after it set rolespec_validate: false. That is only safe while every entry point of a role
has the argument spec of its main entry point."""

import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))


def _load(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return yaml.safe_load(f)


def test_every_entry_point_has_the_argument_spec_of_main():
    for role in ROLES:
        specs = _load("roles", role, "meta", "argument_specs.yml")["argument_specs"]
        main = specs["main"].get("options") or {}
        for name, spec in specs.items():
            assert (spec.get("options") or {}) == main, "%s: entry point %s differs from main" % (role, name)


def _include_roles(tasks):
    for task in tasks or []:
        if "block" in task:
            yield from _include_roles(task["block"])
        elif "ansible.builtin.include_role" in task:
            yield task["name"], task["ansible.builtin.include_role"]


def test_install_skips_the_spec_check_only_after_validating_every_role():
    play = _load("playbooks", "install.yml")[0]
    includes = list(_include_roles(play["tasks"]))
    validating = [(name, args) for name, args in includes if args.get("tasks_from") == "validate"]
    later = [(name, args) for name, args in includes if args.get("tasks_from") != "validate"]
    assert validating and later
    assert all(args.get("rolespec_validate", True) for name, args in validating)
    assert all(args.get("rolespec_validate") is False for name, args in later), later
    assert includes.index(validating[-1]) < includes.index(later[0])
