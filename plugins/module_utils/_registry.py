# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model registries (seed 004): input checks, what the cluster serves, and the objects to write.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

GROUP = "modelregistry.opendatahub.io"
CRD_NAME = "modelregistries." + GROUP
KIND = "ModelRegistry"
DEFAULT_NAMESPACE = "rhoai-model-registries"
# Seed 004 ch.2 step 4: at most 253 characters, lower-case alphanumerics or '-', alphanumeric at both ends.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_MAX = 253
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
TRUSTED_BUNDLE = "odh-trusted-ca-bundle"
CA_SOURCES = ("none", "cluster", "openshift_ai", "configmap", "secret", "pem")
PASSWORD_KEY = "database-password"
MANAGED_BY = "openshift_ai.model_serving"
REGISTRY_LABEL = "model-serving.openshift-ai.io/registry"
CA_FIELDS = ("sslRootCertificateConfigMap", "sslRootCertificateSecret", "sslRootCertificatesConfigMapName",
             "sslRootCertificatesSecretName")
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"


def resource_name(reg):
    return reg.get("resource_name") or reg.get("name") or ""


def _label(path, msg):
    return "%s: %s" % (path, msg)


def validate(registries, namespace=DEFAULT_NAMESPACE, var="model_registry_registries", permissions_only=False):
    """Errors (strings naming the variable) in the list of registries; [] when valid. Reads nothing.
    ``permissions_only``: the database and CA are not needed (the grants of existing registries)."""
    errors = []
    if not isinstance(registries, list):
        return ["%s must be a list of registries" % var]
    if not NAME_RE.match(namespace or "") or len(namespace) > 63:
        errors.append("model_registry_namespace: %r is not a valid namespace name" % (namespace,))
    seen = {}
    for i, reg in enumerate(registries):
        path = "%s[%d]" % (var, i)
        if not isinstance(reg, dict):
            errors.append(_label(path, "must be a dictionary"))
            continue
        name = resource_name(reg)
        path = "%s[%d] (%s)" % (var, i, name or reg.get("name") or "?")
        if not reg.get("name") and not reg.get("resource_name"):
            errors.append(_label(path, "name is required"))
            continue
        which = "resource_name" if reg.get("resource_name") else "name (used as the resource name)"
        if len(name) > NAME_MAX:
            errors.append(_label(path, "%s %r is longer than %d characters (seed 004: resource names have at most "
                                       "253 characters)" % (which, name[:40] + "...", NAME_MAX)))
        elif not NAME_RE.match(name):
            errors.append(_label(path, "%s %r is not a valid resource name: lower-case alphanumeric characters or "
                                       "'-', starting and ending with an alphanumeric character (seed 004 ch.2 "
                                       "step 4); set resource_name" % (which, name)))
        if name in seen:
            errors.append(_label(path, "resource name %r is also used by %s[%d]; a resource name must be unique "
                                       "among the registries of the cluster" % (name, var, seen[name])))
        seen.setdefault(name, i)
        state = reg.get("state", "present")
        if state not in ("present", "absent"):
            errors.append(_label(path, "state must be present or absent, not %r" % (state,)))
        if state == "absent":
            continue
        errors.extend(_label(path, e) for e in _grant_errors(reg))
        if permissions_only:
            continue
        db = reg.get("database")
        if not isinstance(db, dict):
            errors.append(_label(path, "database (host, port, database, username, password) is required"))
            continue
        for f in ("host", "database", "username"):
            if not db.get(f) or not isinstance(db.get(f), str):
                errors.append(_label(path, "database.%s is required" % f))
        if not db.get("password") and not db.get("password_secret"):
            errors.append(_label(path, "database.password (or database.password_secret, an existing Secret) "
                                       "is required"))
        port = db.get("port", 3306)
        try:
            port = int(port)
        except (TypeError, ValueError):
            port = -1
        if not 0 < port < 65536:
            errors.append(_label(path, "database.port must be a port number, not %r" % (db.get("port"),)))
        host = db.get("host") or ""
        db_ns = db.get("namespace")
        if db_ns:
            if not LABEL_RE.match(db_ns) or len(db_ns) > 63:
                errors.append(_label(path, "database.namespace %r is not a valid namespace name" % (db_ns,)))
            if "." in host:
                errors.append(_label(path, "database.host must be the bare service name when database.namespace "
                                           "is given (got %r); the role writes <host>.<namespace>.svc.cluster.local"
                                           % (host,)))
        errors.extend(_label(path, e) for e in _ca_errors(reg.get("ca")))
    return errors


def _grant_errors(reg):
    errors = []
    perms = reg.get("permissions") or {}
    revoke = reg.get("revoke") or {}
    for block, label in ((perms, "permissions"), (revoke, "revoke")):
        if not isinstance(block, dict):
            errors.append("%s must be a dictionary with users, groups, projects" % label)
            continue
        for k, v in block.items():
            if k not in ("users", "groups", "projects"):
                errors.append("%s.%s is not known (users, groups, projects)" % (label, k))
            elif not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
                errors.append("%s.%s must be a list of names" % (label, k))
        for p in block.get("projects") or []:
            if isinstance(p, str) and not LABEL_RE.match(p):
                errors.append("%s.projects: %r is not a project name" % (label, p))
    if isinstance(perms, dict) and isinstance(revoke, dict):
        for k in ("users", "groups", "projects"):
            both = set(perms.get(k) or []) & set(revoke.get(k) or [])
            if both:
                errors.append("%s listed in both permissions.%s and revoke.%s" % (", ".join(sorted(both)), k, k))
    return errors


def _ca_errors(ca):
    if ca is None:
        return []
    if not isinstance(ca, dict):
        return ["ca must be a dictionary (source: cluster, openshift_ai, configmap, secret, pem or none)"]
    source = ca.get("source", "none")
    if source not in CA_SOURCES:
        return ["ca.source must be one of %s, not %r" % (", ".join(CA_SOURCES), source)]
    if source in ("configmap", "secret") and (not ca.get("name") or not ca.get("key")):
        return ["ca.source %s needs ca.name and ca.key (an existing %s in the registries namespace)"
                % (source, "ConfigMap" if source == "configmap" else "Secret")]
    if source == "pem":
        pem = ca.get("pem") or ""
        if "-----BEGIN CERTIFICATE-----" not in pem:
            return ["ca.pem must hold a PEM certificate (-----BEGIN CERTIFICATE-----)"]
        if ca.get("name") and not NAME_RE.match(ca["name"]):
            return ["ca.name %r is not a valid ConfigMap name" % (ca["name"],)]
    return []


def db_host(db, namespace):
    """Seed 004 ch.2 step 6a: the bare host name when the database runs in the registries namespace,
    otherwise <hostname>.<namespace>.svc.cluster.local."""
    host = db["host"]
    db_ns = db.get("namespace")
    if not db_ns or db_ns == namespace:
        return host
    return "%s.%s.svc.cluster.local" % (host, db_ns)


def secret_name(reg):
    db = reg.get("database") or {}
    return db.get("password_secret") or "%s-db-credentials" % resource_name(reg)


def ca_configmap_name(reg):
    ca = reg.get("ca") or {}
    return ca.get("name") or "%s-db-credential" % resource_name(reg)


def ca_fields(reg):
    """spec.mysql CA fields (every CA field present: null removes one a previous choice set)."""
    ca = reg.get("ca") or {}
    source = ca.get("source", "none")
    out = dict((f, None) for f in CA_FIELDS)
    if source == "cluster":
        out["sslRootCertificateConfigMap"] = {"name": TRUSTED_BUNDLE, "key": "ca-bundle.crt"}
    elif source == "openshift_ai":
        out["sslRootCertificateConfigMap"] = {"name": TRUSTED_BUNDLE, "key": "odh-ca-bundle.crt"}
    elif source == "configmap":
        out["sslRootCertificateConfigMap"] = {"name": ca["name"], "key": ca["key"]}
    elif source == "secret":
        out["sslRootCertificateSecret"] = {"name": ca["name"], "key": ca["key"]}
    elif source == "pem":
        out["sslRootCertificateConfigMap"] = {"name": ca_configmap_name(reg), "key": "ca.crt"}
    return out


def common_labels(name):
    return {"app": name, "app.kubernetes.io/component": "model-registry", "app.kubernetes.io/part-of": "model-registry",
            "app.kubernetes.io/name": name, "component": "model-registry",
            "app.kubernetes.io/managed-by": MANAGED_BY, REGISTRY_LABEL: name}


def registry_patch(reg, namespace, api_version):
    """The ModelRegistry as the dashboard writes it (operator-api.md §10.1, serving-api.md §4.2)."""
    name = resource_name(reg)
    db = reg["database"]
    mysql = {"host": db_host(db, namespace), "port": int(db.get("port", 3306)), "database": db["database"],
             "username": db["username"], "skipDBCreation": bool(db.get("skip_creation", False)),
             "passwordSecret": {"name": secret_name(reg), "key": db.get("password_key") or PASSWORD_KEY}}
    mysql.update(ca_fields(reg))
    spec = {"grpc": {}, "rest": {}, "mysql": mysql}
    if api_version.endswith("/v1beta1"):
        spec["oauthProxy"] = {}
    else:
        spec["istio"] = {"gateway": {"grpc": {"tls": {}}, "rest": {"tls": {}}}}
    annotations = {DISPLAY_NAME: reg.get("display_name") or reg.get("name") or name,
                   DESCRIPTION: reg.get("description") or ""}
    return {"metadata": {"annotations": annotations, "labels": {REGISTRY_LABEL: name}}, "spec": spec}


def secret_patch(reg):
    """The password Secret without its values (the role adds them in a no_log task)."""
    name = resource_name(reg)
    return {"type": "Opaque", "metadata": {"labels": common_labels(name), "annotations": {
        "template.openshift.io/expose-database_name": "{.data['database-name']}",
        "template.openshift.io/expose-username": "{.data['database-user']}",
        "template.openshift.io/expose-password": "{.data['database-password']}"}}}


def ca_configmap_patch(reg):
    name = resource_name(reg)
    return {"metadata": {"labels": common_labels(name)}, "data": {"ca.crt": (reg.get("ca") or {}).get("pem")}}


def _slug(text, limit):
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    return s[:limit].rstrip("-")


def rolebinding_name(registry, kind, subject):
    """Deterministic RoleBinding name for one grant: <registry>-<kind>-<subject slug>-<hash>."""
    digest = hashlib.sha256(("%s/%s" % (kind, subject)).encode("utf-8")).hexdigest()[:6]
    prefix = "%s-%s-" % (registry[:200], kind)
    return "%s%s-%s" % (prefix, _slug(subject, 253 - len(prefix) - 7), digest)


def grants(reg):
    """RoleBindings to the operator's Role: groups as they are, projects as the group of their service accounts."""
    name = resource_name(reg)
    perms = reg.get("permissions") or {}
    revoke = reg.get("revoke") or {}
    out = {"add": [], "remove": []}
    for which, block in (("add", perms), ("remove", revoke)):
        for g in block.get("groups") or []:
            out[which].append({"name": rolebinding_name(name, "group", g), "subject": g, "kind": "group",
                               "labels": _grant_labels(name, False)})
        for p in block.get("projects") or []:
            out[which].append({"name": rolebinding_name(name, "project", p), "subject": "system:serviceaccounts:" + p,
                               "kind": "project", "project": p, "labels": _grant_labels(name, True)})
    return out


def _grant_labels(name, project):
    labels = common_labels(name)
    labels["opendatahub.io/dashboard"] = "true"
    if project:
        labels["opendatahub.io/rb-project-subject"] = "true"
    return labels


def choose_api_version(served):
    """v1beta1 when the CRD serves it (RHOAI 2.22+, with oauthProxy), else v1alpha1 (with istio)."""
    if "v1beta1" in served:
        return GROUP + "/v1beta1"
    if "v1alpha1" in served:
        return GROUP + "/v1alpha1"
    return None


def version_tuple(text):
    nums = re.findall(r"\d+", text or "")
    return tuple(int(n) for n in nums[:3]) if nums else ()


def refusals(registries, namespace, existing, dsc, dsci, rhoai_version, manage_component):
    """Reasons to refuse the request, given what the cluster holds (nothing is written before).

    ``existing``: ModelRegistry objects of every namespace (dicts)."""
    out = []
    comp = ((dsc or {}).get("spec") or {}).get("components", {}).get("modelregistry") or {}
    if manage_component and dsc is not None and comp.get("managementState") == "Managed" \
            and comp.get("registriesNamespace") and comp["registriesNamespace"] != namespace:
        out.append("model_registry_namespace: the DataScienceCluster already has registriesNamespace %r, which "
                   "cannot change while the component is Managed (got %r)" % (comp["registriesNamespace"], namespace))
    if not manage_component and (dsc is None or comp.get("managementState") != "Managed"):
        out.append("model_registry_component is false but the DataScienceCluster's modelregistry component is not "
                   "Managed: a cluster administrator must enable it first (seed 004 ch.1)")
    version = version_tuple(rhoai_version)
    mesh = ((dsci or {}).get("spec") or {}).get("serviceMesh", {}).get("managementState")
    if manage_component and version and version < (2, 22) and mesh != "Managed":
        out.append("OpenShift AI %s needs DSCInitialization serviceMesh Managed for the model registry component "
                   "(found %s); install the single-model platform with Service Mesh first" % (rhoai_version, mesh))
    if manage_component and dsci is None and dsc is None:
        out.append("OpenShift AI is not installed (no DSCInitialization or DataScienceCluster): install it first")
    by_name = {}
    for mr in existing or []:
        by_name.setdefault(mr["metadata"]["name"], []).append(mr)
    for i, reg in enumerate(registries):
        name = resource_name(reg)
        path = "model_registry_registries[%d] (%s)" % (i, name)
        others = [m for m in by_name.get(name, []) if m["metadata"].get("namespace") != namespace]
        if others:
            out.append("%s: a model registry named %r exists in namespace %s; resource names are unique in the "
                       "cluster" % (path, name, others[0]["metadata"]["namespace"]))
        if reg.get("state", "present") == "absent":
            continue
        display = reg.get("display_name") or reg.get("name")
        for mr in existing or []:
            md = mr["metadata"]
            if md.get("namespace") != namespace or md["name"] == name:
                continue
            if (md.get("annotations") or {}).get(DISPLAY_NAME) == display and \
                    (md.get("labels") or {}).get(REGISTRY_LABEL) == md["name"]:
                out.append("%s: registry %r exists with the resource name %r; a resource name cannot be changed "
                           "(seed 004 ch.2 step 4): set resource_name: %s, or delete the old registry "
                           "(state: absent) and create the new one" % (path, display, md["name"], md["name"]))
    return out


def _get(client, api_version, kind, name=None, namespace=None):
    """The object (or the list's items when no name) as plain data; None / [] when absent or not served."""
    from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ResourceNotFound

    try:
        res = client.resource(api_version, kind)
    except ResourceNotFound:
        return [] if name is None else None
    try:
        if name is None:
            return list(res.get(namespace=namespace).to_dict().get("items") or [])
        return res.get(name=name, namespace=namespace).to_dict()
    except Exception as e:  # pylint: disable=broad-except
        if getattr(e, "status", None) == 404:
            return [] if name is None else None
        raise


def read_cluster(client, namespace, dsc_name, dsci_name):
    """What the plan depends on: served ModelRegistry versions, DSC, DSCI, the OpenShift AI version and the
    existing registries (every namespace)."""
    crd = _get(client, "apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD_NAME)
    served = []
    if crd is not None:
        established = any(c.get("type") == "Established" and c.get("status") == "True"
                          for c in (crd.get("status") or {}).get("conditions") or [])
        if established:
            served = [v["name"] for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served")]
    dsc = _get(client, "datasciencecluster.opendatahub.io/v1", "DataScienceCluster", dsc_name)
    dsci = _get(client, "dscinitialization.opendatahub.io/v1", "DSCInitialization", dsci_name)
    version = (((dsci or {}).get("status") or {}).get("release") or {}).get("version") or \
        (((dsc or {}).get("status") or {}).get("release") or {}).get("version") or ""
    api_version = choose_api_version(served)
    existing = _get(client, api_version, KIND) if api_version else []
    return {"served_versions": served, "api_version": api_version, "dsc": dsc, "dsci": dsci,
            "rhoai_version": version, "existing": existing}


def plan(registries, namespace, cluster):
    """Per registry what to write (present) or delete (absent)."""
    api_version = cluster.get("api_version")
    existing = dict((m["metadata"]["name"], m) for m in cluster.get("existing") or []
                    if m["metadata"].get("namespace") == namespace)
    present, absent = [], []
    for reg in registries:
        name = resource_name(reg)
        if reg.get("state", "present") == "absent":
            cur = existing.get(name)
            mysql = ((cur or {}).get("spec") or {}).get("mysql") or {}
            absent.append({"name": name, "exists": cur is not None, "host": mysql.get("host"),
                           "port": mysql.get("port"), "database": mysql.get("database"),
                           "secret_name": ((mysql.get("passwordSecret") or {}).get("name")),
                           "api_version": api_version})
            continue
        db = reg.get("database") or {}
        ca = reg.get("ca") or {}
        perms = reg.get("permissions") or {}
        revoke = reg.get("revoke") or {}
        g = grants(reg)
        present.append({
            "name": name,
            "display_name": reg.get("display_name") or reg.get("name") or name,
            "host": db_host(db, namespace) if db.get("host") else None,
            "port": int(db.get("port", 3306)),
            "database": db.get("database"),
            "secret_name": secret_name(reg),
            "manage_secret": not db.get("password_secret"),
            "secret_patch": secret_patch(reg),
            "ca_source": ca.get("source", "none"),
            "ca_configmap": {"name": ca_configmap_name(reg), "patch": ca_configmap_patch(reg)}
            if ca.get("source") == "pem" else None,
            "registry_patch": registry_patch(reg, namespace, api_version) if api_version and db.get("host") else None,
            "exists": name in existing,
            "group": "%s-users" % name,
            "users_add": list(perms.get("users") or []),
            "users_remove": list(revoke.get("users") or []),
            "grants_add": g["add"],
            "grants_remove": g["remove"],
        })
    return {"present": present, "absent": absent}


def missing_references(client, registries, namespace):
    """Existing ConfigMap/Secret CA choices that are not in the registries namespace."""
    out = []
    for i, reg in enumerate(registries):
        ca = reg.get("ca") or {}
        if reg.get("state", "present") == "absent" or ca.get("source") not in ("configmap", "secret"):
            continue
        kind = "ConfigMap" if ca["source"] == "configmap" else "Secret"
        obj = _get(client, "v1", kind, ca["name"], namespace)
        if obj is None:
            out.append("model_registry_registries[%d] (%s): ca: %s %s/%s does not exist (seed 004: choose a "
                       "ConfigMap or Secret of the registries namespace)" % (i, resource_name(reg), kind, namespace,
                                                                             ca["name"]))
        elif ca["key"] not in (obj.get("data") or {}):
            out.append("model_registry_registries[%d] (%s): ca: %s %s/%s has no key %r" % (
                i, resource_name(reg), kind, namespace, ca["name"], ca["key"]))
    return out
