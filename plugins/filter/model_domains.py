# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the model_domains role, thin wrappers over module_utils/_domains.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _domains


def model_domains_input_errors(mappings):
    return _domains.input_errors(plain(mappings))


def model_domains_plan(mappings, isvcs, claims, knative_served=True):
    """Normalized mappings, the refusals, and each present mapping's DomainMapping patch."""
    mappings = plain(mappings)
    errors = _domains.input_errors(mappings)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    isvc_map = dict(("%s/%s" % ((i.get("metadata") or {}).get("namespace"), (i.get("metadata") or {}).get("name")), i)
                    for i in plain(isvcs or []))
    claim_map = dict(((c.get("metadata") or {}).get("name"), (c.get("spec") or {}).get("namespace"))
                     for c in plain(claims or []))
    entries = []
    for m in mappings:
        n = _domains.normalized(m)
        isvc = isvc_map.get("%s/%s" % (n["project"], n["model"]))
        n["domain_mapping"] = _domains.domain_mapping(n, isvc) if isvc and n["state"] == "present" else None
        n["owner_reference"] = _domains.owner_reference(isvc) if isvc else None
        entries.append(n)
    summary = [dict((k, n[k]) for k in ("domain", "project", "model", "state", "certificate", "secret_name"))
               for n in entries]
    for item in summary:
        item["url"] = ("https://" if item["secret_name"] else "http://") + item["domain"] if item["state"] == "present" else None
    return {
        "summary": summary,
        "mappings": entries,
        "refusals": _domains.refusals(mappings, isvc_map, claim_map, knative_served),
    }


class FilterModule(object):
    def filters(self):
        return {
            "model_domains_input_errors": model_domains_input_errors,
            "model_domains_plan": model_domains_plan,
        }
