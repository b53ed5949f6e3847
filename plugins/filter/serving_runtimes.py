# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the serving_runtimes role, thin wrappers over module_utils/_runtimes.py.

The results are marked unsafe: ServingRuntimes carry KServe's Go-template placeholders such as
``{{.Name}}``, which must reach the cluster literally and never be evaluated by Jinja.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._data import plain
from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _runtimes


def _load_files(custom, files):
    """Entries with ``file`` get ``runtime`` parsed from its content (one YAML document)."""
    out = []
    for i, entry in enumerate(custom or []):
        if not isinstance(entry, dict) or entry.get("runtime") is not None or not entry.get("file"):
            out.append(entry)
            continue
        entry = dict(entry)
        content = (files or {}).get(entry["file"])
        where = "serving_runtimes_custom[%d] (file %s)" % (i, entry["file"])
        if not content:
            entry["_error"] = "%s: the file cannot be read or is empty" % where
            out.append(entry)
            continue
        try:
            documents = [d for d in yaml.safe_load_all(content) if d is not None]
        except yaml.YAMLError as e:
            entry["_error"] = "%s: not valid YAML: %s" % (where, to_text(e).replace("\n", " "))
            out.append(entry)
            continue
        if len(documents) != 1:
            entry["_error"] = "%s: must hold exactly one ServingRuntime document, found %d" % (where, len(documents))
        else:
            entry["runtime"] = documents[0]
        out.append(entry)
    return out


def serving_runtimes_plan(inputs, cluster):
    """See ``_runtimes.plan``; ``inputs.files`` maps a custom runtime file path to its content.
    ``cluster`` None: only the checks that need no cluster."""
    if not isinstance(inputs, Mapping) or not (cluster is None or isinstance(cluster, Mapping)):
        raise AnsibleFilterError("serving_runtimes_plan expects two dicts (inputs, cluster)")
    inputs = plain(inputs)
    cluster = None if cluster is None else plain(cluster)
    custom = _load_files(inputs.get("custom"), inputs.pop("files", None))
    load_errors = [e.pop("_error") for e in custom if isinstance(e, dict) and "_error" in e]
    inputs["custom"] = [e for e in custom if not (isinstance(e, dict) and e.get("runtime") is None and e.get("file"))]
    result = _runtimes.plan(inputs, cluster)
    if load_errors:
        result["errors"] = load_errors + result["errors"]
        result["templates"] = []
        result["dashboard"] = {}
    return wrap_var(result)


def serving_runtimes_input_errors(inputs):
    """Errors of the role variables that need no cluster (the ``validate`` entry point)."""
    return list(serving_runtimes_plan(inputs, None)["errors"])


def serving_runtimes_pending(requested, version, templates):
    """Template names of requested shipped runtimes the version ships but the cluster lacks yet."""
    shipped = _runtimes.classify_templates(plain(templates or []))["shipped"]
    return _runtimes.pending_templates(plain(requested or []), _runtimes.parse_version(version), shipped)


def rhoai_version(operators):
    """Version of the installed OpenShift AI operator from platform_info's ``operators``, or None."""
    return _runtimes.rhoai_version(plain(operators or []))


class FilterModule(object):
    def filters(self):
        return {
            "serving_runtimes_plan": serving_runtimes_plan,
            "serving_runtimes_pending": serving_runtimes_pending,
            "serving_runtimes_input_errors": serving_runtimes_input_errors,
            "rhoai_version": rhoai_version,
        }
