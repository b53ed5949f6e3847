"""Which certificate Secrets the upgrade hands to wildcard_certificate for renewal (_upgrade.certificates_to_check)."""

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._upgrade import certificates_to_check

SOURCE = "model-serving.openshift-ai.io/certificate-source"
DOMAIN = "model-serving.openshift-ai.io/certificate-domain"


def secret(name, source=None, domain="apps.example.com", namespace="istio-system"):
    annotations = {}
    if source:
        annotations[SOURCE] = source
    if domain:
        annotations[DOMAIN] = domain
    return {"metadata": {"name": name, "namespace": namespace, "annotations": annotations}}


def test_only_generated_certificates_are_renewed():
    secrets = [secret("knative-serving-cert", "generated"), secret("mine", "provided"), secret("other"),
               secret("no-domain", "generated", domain=None), {"metadata": {"name": "plain", "namespace": "x"}}]
    assert certificates_to_check(secrets) == [
        {"name": "knative-serving-cert", "namespace": "istio-system", "domain": "apps.example.com"}]
    assert certificates_to_check(None) == []
