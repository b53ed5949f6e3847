#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: wildcard_certificate
short_description: Keep a wildcard TLS certificate for the ingress domain in a kubernetes.io/tls Secret
version_added: 0.1.0
description:
  - Generates a root CA and a certificate for V(*.<domain>) and V(<domain>) (both in the
    subjectAltName, not only in the CN) with the Python C(cryptography) library, and stores it
    in a C(kubernetes.io/tls) Secret (C(tls.crt), C(tls.key), C(ca.crt)), the Secret the Knative
    gateways of the manual KServe install use (C(istio-system/wildcard-certs)).
  - Or validates a certificate and key you provide (files, content or an existing Secret) and
    stores them. A provided certificate is refused, before anything is written, when its key does
    not match, its SAN does not contain V(*.<domain>), it is expired or not yet valid, or it does
    not chain to the given CA.
  - Idempotent against the existing Secret. A generated certificate is regenerated only when the
    Secret is missing or unreadable, the key does not match the certificate, the certificate does
    not cover the domain (the domain changed), or it expires within O(renew_before) days. The
    reasons are returned in RV(reasons).
  - The Secret carries annotations with the SHA-256 fingerprint, the expiry date, the domain and
    the source of the certificate.
  - Private keys are never returned, logged or shown in a diff. The diff shows fingerprints,
    names and dates only.
  - A generated certificate's CA is kept (certificate and key) in the Secret O(ca_secret_name) so
    that a renewal is signed by the same CA and clients that trust C(ca.crt) keep working. Its name
    constraints limit it to the domain. With O(keep_ca=false) the CA key is discarded after signing
    and every regeneration creates a new CA.
  - A certificate this collection did not generate (a provided one, or one made by hand) is never
    replaced by a generated one unless O(replace_provided) or O(force) says so; the module fails
    instead, naming the certificate and why it would have been replaced.
author:
  - OpenShift AI model_serving maintainers (@openshift-ai)
extends_documentation_fragment:
  - openshift_ai.model_serving.connection
  - ansible.builtin.action_common_attributes
options:
  domain:
    description:
      - The base domain; the certificate covers V(*.<domain>) and V(<domain>).
      - Defaults to C(spec.domain) of C(ingresses.config.openshift.io/cluster).
      - Internationalised names are converted to their ASCII (punycode) form.
    type: str
  coverage:
    description:
      - What a provided certificate must serve. V(wildcard) (the ingress domain of the gateways) needs the
        SAN V(*.<domain>). V(host) (a custom domain mapped to one model) needs the SAN V(<domain>), or the
        wildcard of its parent domain.
      - A generated certificate always covers both V(*.<domain>) and V(<domain>).
    type: str
    choices: [wildcard, host]
    default: wildcard
  secret_name:
    description: Name of the C(kubernetes.io/tls) Secret to manage.
    type: str
    default: wildcard-certs
  secret_namespace:
    description: Namespace of the Secret. It must exist.
    type: str
    default: istio-system
  certificate_path:
    description:
      - Provided mode. Path (on the host running the module) of the PEM certificate, optionally
        followed by intermediate certificates.
    type: path
  private_key_path:
    description: Provided mode. Path of the PEM private key of O(certificate_path).
    type: path
  ca_path:
    description:
      - Provided mode. Path of the PEM CA certificate the provided certificate must chain to.
        Stored as C(ca.crt).
    type: path
  certificate:
    description: Provided mode. PEM content of the certificate (and intermediates).
    type: str
  private_key:
    description: Provided mode. PEM content of the private key.
    type: str
  ca_certificate:
    description: Provided mode. PEM content of the CA certificate.
    type: str
  private_key_passphrase:
    description: Passphrase of an encrypted provided private key.
    type: str
  existing_secret:
    description:
      - Provided mode. Take the certificate, key and CA (C(tls.crt), C(tls.key), C(ca.crt)) from
        another Secret, validate them and copy them into O(secret_name).
    type: dict
    suboptions:
      name:
        description: Name of the source Secret.
        type: str
        required: true
      namespace:
        description: Namespace of the source Secret. Defaults to O(secret_namespace).
        type: str
  renew_before:
    description:
      - Regenerate a generated certificate that expires within this many days.
      - For a provided certificate a warning is issued instead.
    type: int
    default: 30
  valid_days:
    description:
      - Validity of a generated certificate, in days. Must be larger than O(renew_before).
      - The default, 397, is the longest validity browsers and Apple platforms accept for a TLS server certificate.
    type: int
    default: 397
  keep_ca:
    description:
      - Keep a generated CA (certificate and key) in O(ca_secret_name) and sign renewals with it. A new CA is
        made when there is none for the domain, or when it would expire before the new certificate.
    type: bool
    default: true
  ca_secret_name:
    description: Secret (in O(secret_namespace)) that keeps the generated CA. Defaults to O(secret_name) with C(-ca).
    type: str
  replace_provided:
    description:
      - Generated mode. Allow replacing a certificate this collection did not generate (provided, or made by
        hand) when it would otherwise be regenerated (expiring, wrong domain, wrong Secret type). Without it the
        module fails and changes nothing.
    type: bool
    default: false
  key_type:
    description: Key type of a generated certificate and its CA.
    type: str
    choices: [rsa2048, rsa4096, ecdsa-p256]
    default: rsa2048
  force:
    description: Regenerate the certificate even when the existing one is fine. Not idempotent.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Computes the verdict and the diff; nothing is generated or written.
  diff_mode:
    support: full
    details: The diff shows subject, issuer, SAN DNS names, dates and fingerprints, never PEM or keys.
  idempotent:
    description: Running the task twice with the same options changes nothing the second time.
    support: partial
    details:
      - Idempotent unless O(force=true), or the certificate comes within O(renew_before) days of expiry.
  platform:
    platforms: posix
notes:
  - Only certificates in the subjectAltName count; a CN alone is ignored, as TLS clients do.
requirements:
  - cryptography >= 41.0.0
"""

EXAMPLES = r"""
- name: Generate a wildcard certificate for the cluster's ingress domain
  openshift_ai.model_serving.wildcard_certificate:
    secret_name: wildcard-certs
    secret_namespace: istio-system
  register: cert

- name: Use our own certificate, refused unless it covers *.apps.example.com
  openshift_ai.model_serving.wildcard_certificate:
    domain: apps.example.com
    certificate_path: /secure/wildcard.crt
    private_key_path: /secure/wildcard.key
    ca_path: /secure/root.crt

- name: Copy the certificate RHOAI generated (SelfSigned) into the Secret the gateways use
  openshift_ai.model_serving.wildcard_certificate:
    existing_secret:
      name: knative-serving-cert
      namespace: istio-system
"""

RETURN = r"""
action:
  description: What happened to the Secret.
  returned: success
  type: str
  choices: [generated, regenerated, kept, provided]
  sample: kept
reasons:
  description: Why the certificate was (re)generated or written; empty when nothing changed.
  returned: success
  type: list
  elements: str
  sample: ["the certificate covers ['*.apps.old.example.com', 'apps.old.example.com'], not *.apps.new.example.com (domain changed)"]
domain:
  description: The domain in canonical form.
  returned: success
  type: str
  sample: apps.cluster.example.com
secret:
  description: Name and namespace of the Secret.
  returned: success
  type: dict
  sample: {name: wildcard-certs, namespace: istio-system}
fingerprint:
  description: SHA-256 fingerprint (hex) of the certificate in the Secret. Null in check mode before a generation.
  returned: success
  type: str
not_after:
  description: Expiry of the certificate (UTC, ISO 8601). Null in check mode before a generation.
  returned: success
  type: str
  sample: "2036-11-21T18:00:00Z"
dns_names:
  description: SAN DNS names of the certificate.
  returned: success
  type: list
  elements: str
  sample: ["*.apps.cluster.example.com", "apps.cluster.example.com"]
ca_certificate:
  description: PEM of the CA certificate (public), when known. Clients use it to trust the gateway.
  returned: success
  type: str
ca_rotated:
  description: Whether the CA changed (a new C(ca.crt)); clients that trusted the old one need the new one.
  returned: success
  type: bool
"""

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._certs import ensure_certificate
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._x509 import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    KEY_TYPES,
)
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import CONNECTION_ARG_SPEC, Client
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import ModelServingError


def argument_spec():
    spec = copy.deepcopy(CONNECTION_ARG_SPEC)
    spec.update(
        domain=dict(type="str"),
        secret_name=dict(type="str", default="wildcard-certs"),
        secret_namespace=dict(type="str", default="istio-system", no_log=False),
        certificate_path=dict(type="path"),
        private_key_path=dict(type="path", no_log=False),
        ca_path=dict(type="path"),
        certificate=dict(type="str"),
        private_key=dict(type="str", no_log=True),
        ca_certificate=dict(type="str"),
        private_key_passphrase=dict(type="str", no_log=True),
        existing_secret=dict(
            type="dict",
            no_log=False,
            options=dict(name=dict(type="str", required=True), namespace=dict(type="str")),
        ),
        renew_before=dict(type="int", default=30),
        valid_days=dict(type="int", default=397),
        keep_ca=dict(type="bool", default=True),
        ca_secret_name=dict(type="str"),
        replace_provided=dict(type="bool", default=False),
        key_type=dict(type="str", choices=list(KEY_TYPES), default="rsa2048"),
        force=dict(type="bool", default=False),
        coverage=dict(type="str", choices=["wildcard", "host"], default="wildcard"),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[
            ("certificate_path", "certificate"),
            ("private_key_path", "private_key"),
            ("ca_path", "ca_certificate"),
            ("existing_secret", "certificate_path"),
            ("existing_secret", "certificate"),
            ("force", "certificate_path"),
            ("force", "certificate"),
            ("force", "existing_secret"),
        ],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    try:
        client = Client(module.params)
        result = ensure_certificate(client, module.params, check_mode=module.check_mode)
    except ModelServingError as e:
        module.fail_json(msg=e.msg, **e.details)
    diff = result.pop("diff")
    for warning in result.pop("warnings", []):
        module.warn(warning)
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
