# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wildcard certificate Secret: what it must hold (the verdict) and bringing it there.

Two layers: the verdict (``Existing``, ``regeneration_reasons``, ``replacement_reasons``,
``annotation_drift``) is pure, over parsed Secret data; ``ensure_certificate`` reads and writes the
Secrets through the service layer (``_service.Service``: field manager, resourceVersion lock, one
error mapper). X.509 itself (parse, validate, generate) is in ``_x509``. Nothing here ever puts
private key material into a message, an exception, a summary or a diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ApiError,
    InvalidInput,
    ResourceNotFound,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._service import (
    ApiException,
    Service,
    api_error,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._x509 import (
    DEFAULT_VALID_DAYS,
    certificate_pem,
    covers_domain,
    dns_names,
    fingerprint,
    generate,
    is_ca,
    iso,
    key_matches,
    key_type_of,
    normalize_domain,
    not_after,
    parse_certificates,
    parse_private_key,
    private_key_pem,
    spki,
    summary,
    utcnow,
    validate_provided,
)

ANNOTATION_PREFIX = "model-serving.openshift-ai.io/"
ANN_FINGERPRINT = ANNOTATION_PREFIX + "certificate-sha256"
ANN_NOT_AFTER = ANNOTATION_PREFIX + "certificate-not-after"
ANN_DOMAIN = ANNOTATION_PREFIX + "certificate-domain"
ANN_SOURCE = ANNOTATION_PREFIX + "certificate-source"
ANN_CA_DOMAIN = ANNOTATION_PREFIX + "ca-domain"
MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "openshift_ai.model_serving")
TLS_TYPE = "kubernetes.io/tls"


def secret_annotations(material, domain):
    """The annotations that describe ``material``'s certificate on its Secret."""
    return {
        ANN_FINGERPRINT: material.fingerprint,
        ANN_NOT_AFTER: iso(not_after(material.cert)),
        ANN_DOMAIN: domain,
        ANN_SOURCE: material.source,
    }


# --------------------------------------------------------------------------------------------
# The verdict on the existing Secret
# --------------------------------------------------------------------------------------------


class Existing(object):
    """What the current Secret holds, parsed as far as possible, without keeping the key."""

    def __init__(self, secret_type=None, data=None, annotations=None, exists=True):
        self.exists = exists
        self.type = secret_type
        self.annotations = dict(annotations or {})
        self.cert = None
        self.chain = []
        self.ca = None
        self.key_ok = None  # None: could not tell
        self.key_type = None
        self._key_spki = None
        self.problems = []
        data = data or {}
        if not exists:
            return
        crt, key = data.get("tls.crt"), data.get("tls.key")
        if not crt:
            self.problems.append("the Secret has no tls.crt")
        else:
            certs = parse_certificates(crt)
            if certs:
                self.cert, self.chain = certs[0], certs[1:]
            else:
                self.problems.append("tls.crt in the Secret cannot be parsed")
        if not key:
            self.problems.append("the Secret has no tls.key")
        else:
            parsed = parse_private_key(key)
            if parsed is not None:
                self._key_spki = spki(parsed.public_key())
                self.key_type = key_type_of(parsed)
                del parsed
            else:
                self.problems.append("tls.key in the Secret cannot be parsed")
        if data.get("ca.crt"):
            self.ca = (parse_certificates(data["ca.crt"]) or [None])[0]
        if self.cert is not None and self._key_spki is not None:
            self.key_ok = spki(self.cert.public_key()) == self._key_spki

    def same_key_as(self, key):
        return self._key_spki is not None and self._key_spki == spki(key.public_key())

    def summary(self):
        if not self.exists:
            return {}
        out = summary(self.cert) if self.cert is not None else {}
        if self.key_type:
            out["key_type"] = self.key_type
        if self.ca is not None:
            out["ca_fingerprint"] = fingerprint(self.ca)
        return out


def regeneration_reasons(existing, domain, renew_before_days, now=None, where="the Secret"):
    """Why the generated certificate in ``existing`` must be replaced; [] means keep it.

    Only four things count, in this order: the material is missing or unreadable, the key does
    not match, the certificate does not cover ``*.<domain>``, or it expires within
    ``renew_before_days`` (or already has). Timestamps are otherwise ignored (an idempotent
    rerun never regenerates), and so are cosmetic details such as the subject."""
    now = now or utcnow()
    if not existing.exists:
        return ["%s does not exist" % where]
    reasons = []
    if existing.type not in (None, TLS_TYPE):
        reasons.append("%s has type %s, not %s" % (where, existing.type, TLS_TYPE))
    reasons.extend("%s" % p for p in existing.problems)
    if existing.cert is None or existing.key_ok is None:
        return reasons or ["%s holds no usable certificate and key" % where]
    if not existing.key_ok:
        reasons.append("the private key in %s does not match its certificate" % where)
    sans = dns_names(existing.cert)
    if not covers_domain(sans, domain):
        reasons.append("the certificate covers %s, not *.%s (domain changed)" % (sans or "no SAN DNS name", domain))
    end = not_after(existing.cert)
    if end <= now:
        reasons.append("the certificate expired on %s" % iso(end))
    elif end - now <= datetime.timedelta(days=renew_before_days):
        reasons.append("the certificate expires on %s, within renew_before=%d days" % (iso(end), renew_before_days))
    return reasons


def replacement_reasons(existing, material, where="the Secret"):
    """Why ``existing`` must be overwritten with provided ``material``; [] means it already holds it."""
    if not existing.exists:
        return ["%s does not exist" % where]
    reasons = []
    if existing.type not in (None, TLS_TYPE):
        reasons.append("%s has type %s, not %s" % (where, existing.type, TLS_TYPE))
    reasons.extend(existing.problems)
    if existing.cert is None or fingerprint(existing.cert) != material.fingerprint:
        reasons.append(
            "%s holds a different certificate (sha256 %s, provided %s)"
            % (where, fingerprint(existing.cert) if existing.cert is not None else "none", material.fingerprint)
        )
    elif [fingerprint(c) for c in existing.chain] != [fingerprint(c) for c in material.chain]:
        reasons.append("%s holds a different intermediate chain" % where)
    if existing.cert is not None and not existing.same_key_as(material.key):
        reasons.append("%s holds a different private key" % where)
    if material.ca is not None and (existing.ca is None or fingerprint(existing.ca) != fingerprint(material.ca)):
        reasons.append("%s holds a different ca.crt" % where)
    return reasons


def annotation_drift(current, wanted):
    """Annotations to add or change so the Secret describes its certificate ({} = none)."""
    return dict((k, v) for k, v in wanted.items() if (current or {}).get(k) != v)


# --------------------------------------------------------------------------------------------
# Orchestration against the cluster (used by the wildcard_certificate module)
# --------------------------------------------------------------------------------------------


def _b64decode_map(data):
    out = {}
    for k, v in (data or {}).items():
        try:
            out[k] = base64.b64decode(v) if v is not None else None
        except (TypeError, ValueError):
            out[k] = None
    return out


def _b64encode_map(data):
    return dict((k, base64.b64encode(v).decode("ascii") if v is not None else None) for k, v in data.items())


def _where(name, namespace):
    return "Secret %s/%s" % (namespace, name)


class Secrets(object):
    """The Secrets this module reads and writes, through the service layer: reads via
    ``Service.get``, creations via ``Service.create`` (field manager), merges carrying the
    resourceVersion they were decided on (a concurrent change is a conflict, not a lost update)."""

    def __init__(self, client):
        self.service = Service(client)
        self._resource = None

    def _r(self):
        if self._resource is None:
            self._resource = self.service.resource("v1", "Secret")
        return self._resource

    def read(self, name, namespace):
        """What the Secret holds now (a SecretState; ``exists`` False when it is absent)."""
        return SecretState(self.service.get("v1", "Secret", name, namespace, resource=self._r()))

    def create(self, body):
        meta = body["metadata"]
        try:
            return self.service.create(self._r(), body, meta["namespace"])
        except ApiException as e:  # Service.create leaves 409 to its caller
            raise api_error(e, "create", _where(meta["name"], meta["namespace"]))

    def merge(self, name, namespace, body, resource_version=None):
        self.service.merge(self._r(), name, namespace, body, _where(name, namespace), resource_version, action="update")

    def delete(self, name, namespace):
        self.service.delete(self._r(), name, namespace, _where(name, namespace), missing_ok=False)


class SecretState(object):
    """What one read of a Secret found: ``exists``, ``type``, ``data`` (key -> bytes),
    ``annotations``, ``labels`` and the ``resource_version`` to write against."""

    def __init__(self, obj):
        obj = obj or {}
        meta = obj.get("metadata") or {}
        self.exists = bool(obj)
        self.type = obj.get("type")
        self.data = _b64decode_map(obj.get("data"))
        self.annotations = dict(meta.get("annotations") or {})
        self.labels = dict(meta.get("labels") or {})
        self.resource_version = meta.get("resourceVersion")
        self.raw = obj


def cluster_domain(service):
    """The ingress domain: ``spec.domain`` of ``ingresses.config.openshift.io/cluster``."""
    try:
        obj = service.get("config.openshift.io/v1", "Ingress", "cluster")
    except (ApiError, ResourceNotFound) as e:
        raise ResourceNotFound("Could not read ingresses.config.openshift.io/cluster to find the domain: %s; set domain" % e)
    domain = ((obj or {}).get("spec") or {}).get("domain") or ""
    if not domain:
        raise ResourceNotFound("ingresses.config.openshift.io/cluster has no spec.domain; set domain")
    return domain


def _read_file(path, param):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        raise InvalidInput("%s: cannot read %s: %s" % (param, path, e.strerror or e), param=param)


def provided_material(secrets, params, domain, now=None):
    """Material from the provided-mode parameters, validated; None in generated mode."""
    cert = key = ca = None
    names = {}
    src = params.get("existing_secret")
    if src:
        ns = src.get("namespace") or params["secret_namespace"]
        where = "existing_secret (%s/%s)" % (ns, src["name"])
        found = secrets.read(src["name"], ns)
        data = found.data
        if not found.exists:
            raise InvalidInput("%s does not exist" % where, param="existing_secret")
        cert, key, ca = data.get("tls.crt"), data.get("tls.key"), data.get("ca.crt")
        names = {"certificate": where + " tls.crt", "private_key": where + " tls.key", "ca": where + " ca.crt"}
    if params.get("certificate_path"):
        cert, names["certificate"] = _read_file(params["certificate_path"], "certificate_path"), "certificate_path"
    elif params.get("certificate"):
        cert, names["certificate"] = params["certificate"], "certificate"
    if params.get("private_key_path"):
        key, names["private_key"] = _read_file(params["private_key_path"], "private_key_path"), "private_key_path"
    elif params.get("private_key"):
        key, names["private_key"] = params["private_key"], "private_key"
    if params.get("ca_path"):
        ca, names["ca"] = _read_file(params["ca_path"], "ca_path"), "ca_path"
    elif params.get("ca_certificate"):
        ca, names["ca"] = params["ca_certificate"], "ca_certificate"
    if cert is None and key is None:
        if ca is not None:
            raise InvalidInput("%s is only used with a provided certificate and key" % names["ca"], param=names["ca"])
        return None
    if cert is None:
        raise InvalidInput("%s is set but no certificate: set certificate_path or certificate" % names["private_key"], param="certificate_path")
    if key is None:
        raise InvalidInput("%s is set but no private key: set private_key_path or private_key" % names["certificate"], param="private_key_path")
    return validate_provided(cert, key, domain, ca_pem=ca, passphrase=params.get("private_key_passphrase"), now=now, names=names,
                             coverage=params.get("coverage") or "wildcard")


def ensure_certificate(client, params, check_mode=False, now=None):
    """Bring the TLS Secret to the wanted state. Returns the module result (no key material).

    Everything that can be refused (domain, provided material) is checked before the first
    write; in check mode nothing is generated or written."""
    now = now or utcnow()
    secrets = Secrets(client)
    if params.get("domain"):
        domain = normalize_domain(params["domain"], "domain")
    else:
        domain = normalize_domain(cluster_domain(secrets.service), "domain (from ingresses.config.openshift.io/cluster)")
    if params.get("renew_before") is not None and params["renew_before"] < 0:
        raise InvalidInput("renew_before must be >= 0 days (got %s)" % params["renew_before"], param="renew_before")
    renew_before = params.get("renew_before") or 0
    valid_days = params.get("valid_days")
    if valid_days is None:
        valid_days = DEFAULT_VALID_DAYS
    if valid_days < 1:
        raise InvalidInput("valid_days must be at least 1 (got %s)" % valid_days, param="valid_days")
    if valid_days <= renew_before:
        raise InvalidInput(
            "valid_days (%s) must be larger than renew_before (%s), or every run would regenerate" % (valid_days, renew_before),
            param="valid_days",
        )
    name, namespace = params["secret_name"], params["secret_namespace"]
    where = "Secret %s/%s" % (namespace, name)

    material = provided_material(secrets, params, domain, now=now)
    found = secrets.read(name, namespace)
    exists, annotations = found.exists, found.annotations
    existing = Existing(found.type, found.data, annotations, exists=exists)
    warnings = []

    if material is not None:
        reasons = replacement_reasons(existing, material, where)
        action = "provided" if reasons else "kept"
        end = not_after(material.cert)
        if end - now <= datetime.timedelta(days=renew_before):
            warnings.append(
                "the provided certificate expires on %s, within renew_before=%d days; replace it soon" % (iso(end), renew_before)
            )
    else:
        reasons = regeneration_reasons(existing, domain, renew_before, now=now, where=where)
        if not reasons and params.get("force"):
            reasons = ["force=true"]
        foreign = existing.cert is not None and annotations.get(ANN_SOURCE) != "generated"
        if reasons and foreign and not (params.get("replace_provided") or params.get("force")):
            raise InvalidInput(
                "%s holds a certificate this collection did not generate (%s, sha256 %s, expires %s), and generating one "
                "would replace it because %s. Provide it (certificate_path and private_key_path, or existing_secret) to "
                "keep it, renew it yourself, or set replace_provided: true to replace it with a generated certificate; "
                "nothing was changed."
                % (where, "provided" if annotations.get(ANN_SOURCE) == "provided" else "made outside this collection",
                   fingerprint(existing.cert), iso(not_after(existing.cert)), "; ".join(reasons)),
                param="replace_provided",
            )
        action = ("regenerated" if exists else "generated") if reasons else "kept"
        if reasons and not check_mode:
            ca_pair = None
            if params.get("keep_ca", True):
                ca_pair, ca_note = load_ca(secrets, ca_secret_name(params), namespace, domain,
                                           now + datetime.timedelta(days=valid_days))
                if ca_pair is None and existing.ca is not None:
                    warnings.append("a new CA signs the certificate (%s): clients that trust the old ca.crt of %s need the "
                                    "new one" % (ca_note, where))
            material = generate(domain, valid_days=valid_days, key_type=params.get("key_type") or "rsa2048", now=now,
                                ca=ca_pair)

    before = existing.summary()
    changed = False
    if action == "kept":
        cert = existing.cert
        wanted_ann = {
            ANN_FINGERPRINT: fingerprint(cert),
            ANN_NOT_AFTER: iso(not_after(cert)),
            ANN_DOMAIN: domain,
            ANN_SOURCE: annotations.get(ANN_SOURCE) or ("provided" if params_provided(params) else "generated"),
        }
        drift = annotation_drift(annotations, wanted_ann)
        after = before
        if drift:
            changed = True
            reasons = ["annotations on %s are out of date: %s" % (where, ", ".join(sorted(drift)))]
            if not check_mode:
                secrets.merge(name, namespace, {"metadata": {"annotations": drift}}, found.resource_version)
        summary_cert, ca = cert, existing.ca
    else:
        changed = True
        if material is None:  # check mode, generation skipped
            after = {"dns_names": ["*." + domain, domain], "fingerprint": "(new, generated on apply)", "key_type": params.get("key_type") or "rsa2048"}
            summary_cert, ca = None, None
        else:
            after = material.summary()
            summary_cert, ca = material.cert, material.ca
            if not check_mode:
                if material.new_ca and params.get("keep_ca", True):
                    # The CA first: a failure after it leaves a CA the next run reuses.
                    _write_ca_secret(secrets, ca_secret_name(params), namespace, material, domain)
                _write_secret(secrets, name, namespace, found, existing, material, domain)

    result = {
        "changed": changed,
        "action": action,
        "reasons": reasons,
        "domain": domain,
        "secret": {"name": name, "namespace": namespace},
        "fingerprint": fingerprint(summary_cert) if summary_cert is not None else None,
        "not_after": iso(not_after(summary_cert)) if summary_cert is not None else None,
        "dns_names": dns_names(summary_cert) if summary_cert is not None else after.get("dns_names", []),
        "ca_certificate": certificate_pem(ca).decode("ascii") if ca is not None else None,
        "ca_rotated": bool(existing.ca is not None and ca is not None and fingerprint(existing.ca) != fingerprint(ca)),
        "diff": {"before": before, "after": after},
    }
    if warnings:
        result["warnings"] = warnings
    return result


def ca_secret_name(params):
    """The Secret that keeps a generated CA (certificate and key) for renewals."""
    return params.get("ca_secret_name") or (params["secret_name"] + "-ca")


def load_ca(secrets, name, namespace, domain, needed_until):
    """((CA certificate, CA key), note) from the CA Secret when it can sign for ``domain`` until
    ``needed_until``; (None, why not) otherwise."""
    where = _where(name, namespace)
    found = secrets.read(name, namespace)
    if not found.exists:
        return None, "%s does not exist" % where
    if found.annotations.get(ANN_CA_DOMAIN) != domain:
        return None, "the CA in %s is for %s, not %s" % (where, found.annotations.get(ANN_CA_DOMAIN) or "another domain", domain)
    certs = parse_certificates(found.data.get("ca.crt") or b"")
    key = parse_private_key(found.data.get("ca.key") or b"")
    if not certs or key is None:
        return None, "the CA in %s cannot be parsed" % where
    cert = certs[0]
    if not key_matches(cert, key) or not is_ca(cert):
        return None, "the CA in %s is not a CA certificate with its key" % where
    if not_after(cert) < needed_until:
        return None, "the CA in %s expires on %s, before the new certificate would" % (where, iso(not_after(cert)))
    return (cert, key), "kept from %s" % where


def _missing_namespace(e):
    """A clearer message for a creation refused because its namespace does not exist (the service layer
    reads that from the API server's answer)."""
    namespace = e.details.get("missing_namespace")
    if namespace:
        return ApiError("%s: namespace %s does not exist (create it first, e.g. with the service mesh control plane)"
                        % (e, namespace), status=404)
    return e


def _write_ca_secret(secrets, name, namespace, material, domain):
    data = _b64encode_map({"ca.crt": certificate_pem(material.ca), "ca.key": private_key_pem(material.ca_key)})
    meta = {"annotations": {ANN_CA_DOMAIN: domain, ANN_FINGERPRINT: fingerprint(material.ca)},
            "labels": dict([MANAGED_BY_LABEL])}
    found = secrets.read(name, namespace)
    try:
        if found.exists:
            secrets.merge(name, namespace, {"metadata": meta, "data": data}, found.resource_version)
        else:
            secrets.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": dict(meta, name=name, namespace=namespace), "data": data})
    except ApiError as e:
        raise _missing_namespace(e)


def params_provided(params):
    return bool(
        params.get("certificate_path") or params.get("certificate") or params.get("existing_secret")
    )


def _write_secret(secrets, name, namespace, found, existing, material, domain):
    data = material.secret_data()
    if "ca.crt" not in data:
        data["ca.crt"] = None  # drop a stale CA on merge
    encoded = _b64encode_map(data)
    ann = secret_annotations(material, domain)
    labels = dict([MANAGED_BY_LABEL])
    restore = None
    if existing.exists and existing.type not in (None, TLS_TYPE):
        # The type of a Secret is immutable: replace it, and put the old one back if the new one is refused.
        old_meta = found.raw.get("metadata") or {}
        restore = {"apiVersion": "v1", "kind": "Secret", "type": found.type, "data": found.raw.get("data") or {},
                   "metadata": {"name": name, "namespace": namespace, "labels": old_meta.get("labels") or {},
                                "annotations": old_meta.get("annotations") or {}}}
        try:
            secrets.delete(name, namespace)
        except ApiError as e:
            raise ApiError("Could not replace %s (type %s): %s" % (_where(name, namespace), existing.type, e), status=e.details.get("status"))
        existing = Existing(exists=False)
    if existing.exists:
        secrets.merge(name, namespace, {"metadata": {"annotations": ann, "labels": labels}, "data": encoded},
                      found.resource_version)
        return
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": TLS_TYPE,
        "metadata": {"name": name, "namespace": namespace, "annotations": ann, "labels": labels},
        "data": dict((k, v) for k, v in encoded.items() if v is not None),
    }
    try:
        secrets.create(body)
    except ApiError as e:
        if restore is not None:
            try:
                secrets.create(restore)
                e = ApiError("%s (the previous Secret of type %s was put back)" % (e, restore["type"]), status=e.details.get("status"))
            except ApiError:
                e = ApiError("%s (and the previous Secret could not be put back)" % e, status=e.details.get("status"))
        raise _missing_namespace(e)
