# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Custom domains for models (seed 000 §3.3.1.2 note): a TLS Secret and a Knative DomainMapping
per mapped model, pure decisions on plain data.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
CERT_TYPES = ("generated", "provided", "none")
STATES = ("present", "absent")
KNOWN_KEYS = ("domain", "model", "project", "certificate", "secret_name", "certificate_path", "private_key_path",
              "ca_path", "state")
RAW_ANNOTATION = "serving.kserve.io/deploymentMode"
KSVC_API = "serving.knative.dev/v1"


def secret_name_for(domain):
    """Default TLS Secret name of a mapping: the domain with dots as dashes, plus ``-tls``."""
    return (domain.replace(".", "-")[:59].rstrip("-")) + "-tls"


def normalized(entry):
    """The entry with its defaults filled in (the entry is assumed valid)."""
    out = dict(entry)
    out.setdefault("certificate", "generated")
    out.setdefault("state", "present")
    if out["certificate"] == "none":
        out["secret_name"] = None
    elif not out.get("secret_name"):
        out["secret_name"] = secret_name_for(out["domain"])
    for key in ("certificate_path", "private_key_path", "ca_path"):
        out.setdefault(key, None)
    out["ksvc"] = "%s-predictor" % out["model"]
    # provided without files: a TLS Secret the user made in the project (never written, never removed)
    out["from_existing_secret"] = out["certificate"] == "provided" and not out["certificate_path"]
    # a Secret this collection writes, and so removes (with the model or when the mapping is absent)
    out["writes_secret"] = out["certificate"] == "generated" or (out["certificate"] == "provided" and bool(out["certificate_path"]))
    return out


def input_errors(mappings, var="model_domains_mappings"):
    """Problems in the mapping list that need no cluster to find, each naming the variable."""
    if not isinstance(mappings, list):
        return ["%s must be a list of mappings, got %s" % (var, type(mappings).__name__)]
    errors, seen = [], {}
    for i, entry in enumerate(mappings):
        where = "%s[%d]" % (var, i)
        if not isinstance(entry, dict):
            errors.append("%s must be a mapping with domain, model and project" % where)
            continue
        unknown = sorted(set(entry) - set(KNOWN_KEYS))
        if unknown:
            errors.append("%s: unknown keys %s (known: %s)" % (where, ", ".join(unknown), ", ".join(KNOWN_KEYS)))
        domain = entry.get("domain")
        if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
            errors.append("%s.domain must be a lower-case DNS name with at least one dot and no wildcard, got %r"
                          % (where, domain))
        elif domain in seen:
            errors.append("%s.domain %s is already mapped by %s[%d]" % (where, domain, var, seen[domain]))
        else:
            seen[domain] = i
        for key in ("model", "project"):
            if not isinstance(entry.get(key), str) or not NAME_RE.match(entry.get(key)):
                errors.append("%s.%s must be a Kubernetes name (lower case, digits, '-'), got %r" % (where, key, entry.get(key)))
        state = entry.get("state", "present")
        if state not in STATES:
            errors.append("%s.state must be present or absent, got %r" % (where, state))
        cert = entry.get("certificate", "generated")
        if cert not in CERT_TYPES:
            errors.append("%s.certificate must be one of %s, got %r" % (where, ", ".join(CERT_TYPES), cert))
        if entry.get("secret_name") is not None and not (isinstance(entry["secret_name"], str) and NAME_RE.match(entry["secret_name"])):
            errors.append("%s.secret_name must be a Kubernetes name, got %r" % (where, entry["secret_name"]))
        has_files = bool(entry.get("certificate_path") or entry.get("private_key_path"))
        if cert == "provided" and state == "present":
            if has_files and not (entry.get("certificate_path") and entry.get("private_key_path")):
                errors.append("%s: certificate provided from files needs both certificate_path and private_key_path" % where)
            if not has_files and not entry.get("secret_name"):
                errors.append("%s: certificate provided needs certificate_path and private_key_path, or secret_name "
                              "(a TLS Secret that already exists in the project)" % where)
        elif cert != "provided" and (has_files or entry.get("ca_path")):
            errors.append("%s: certificate_path, private_key_path and ca_path are only used with certificate: provided" % where)
    return errors


def _deployment_mode(isvc):
    ann = ((isvc.get("metadata") or {}).get("annotations") or {}).get(RAW_ANNOTATION)
    return ann or ((isvc.get("status") or {}).get("deploymentMode")) or "Serverless"


def refusals(mappings, isvcs, claims, knative_served=True):
    """What the cluster refuses, before any write.

    ``isvcs`` maps "project/model" to the InferenceService (or None), ``claims`` maps a domain to
    the namespace of its ClusterDomainClaim (a domain claimed by another project is refused)."""
    out = []
    wanted = [normalized(m) for m in mappings if m.get("state", "present") == "present"]
    if wanted and not knative_served:
        return ["Knative Serving (DomainMapping) is not installed on this cluster: custom domains need the Serverless "
                "deployment mode (install the platform first)"]
    for m in wanted:
        key = "%s/%s" % (m["project"], m["model"])
        isvc = isvcs.get(key)
        if not isvc:
            out.append("%s: InferenceService %s does not exist; deploy the model first" % (m["domain"], key))
        elif _deployment_mode(isvc) != "Serverless":
            out.append("%s: InferenceService %s runs in the %s mode; a DomainMapping maps a Knative service, so only "
                       "Serverless models can have a custom domain" % (m["domain"], key, _deployment_mode(isvc)))
        owner = claims.get(m["domain"])
        if owner and owner != m["project"]:
            out.append("%s is claimed by project %s (ClusterDomainClaim %s); it cannot be mapped in project %s"
                       % (m["domain"], owner, m["domain"], m["project"]))
    return out


def domain_mapping(m, isvc):
    """The DomainMapping of a mapping, owned by the InferenceService (removed with the model)."""
    meta = isvc.get("metadata") or {}
    spec = {"ref": {"apiVersion": KSVC_API, "kind": "Service", "name": m["ksvc"], "namespace": m["project"]}}
    if m["secret_name"]:
        spec["tls"] = {"secretName": m["secret_name"]}
    return {
        "metadata": {
            "labels": {"app.kubernetes.io/managed-by": "openshift_ai.model_serving",
                       "serving.kserve.io/inferenceservice": m["model"]},
            "ownerReferences": [owner_reference(isvc)],
        },
        "spec": spec,
    } if meta else None


def owner_reference(isvc):
    meta = isvc.get("metadata") or {}
    return {"apiVersion": isvc.get("apiVersion", "serving.kserve.io/v1beta1"), "kind": "InferenceService",
            "name": meta.get("name"), "uid": meta.get("uid"), "blockOwnerDeletion": False}
