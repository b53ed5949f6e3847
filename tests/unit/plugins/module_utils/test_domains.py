"""Custom domain mappings (module_utils/_domains.py): input errors, refusals and the objects, on plain data."""

import pytest

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _domains as d

OK = {"domain": "llm.models.example.org", "model": "granite", "project": "demo"}
ISVC = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "granite", "namespace": "demo", "uid": "u-1",
                     "annotations": {"serving.kserve.io/deploymentMode": "Serverless"}}}


def test_valid_entries_have_no_errors_and_defaults():
    assert d.input_errors([OK, dict(OK, domain="chat.example.org", certificate="none")]) == []
    n = d.normalized(OK)
    assert n["certificate"] == "generated" and n["state"] == "present"
    assert n["secret_name"] == "llm-models-example-org-tls" and n["ksvc"] == "granite-predictor"
    assert n["writes_secret"] and not n["from_existing_secret"]
    assert d.normalized(dict(OK, certificate="none"))["secret_name"] is None
    existing = d.normalized(dict(OK, certificate="provided", secret_name="mine"))
    assert existing["from_existing_secret"] and not existing["writes_secret"]


@pytest.mark.parametrize("entry,words", [
    (dict(OK, domain="*.models.example.org"), ["[0].domain", "no wildcard"]),
    (dict(OK, domain="Upper.Example.org"), ["[0].domain"]),
    (dict(OK, domain="localhost"), ["[0].domain"]),
    (dict(OK, model="Bad_Name"), ["[0].model"]),
    ({"domain": "a.example.org", "model": "m"}, ["[0].project"]),
    (dict(OK, certificate="selfsigned"), ["[0].certificate must be one of"]),
    (dict(OK, certificate="provided"), ["certificate provided needs"]),
    (dict(OK, certificate="provided", certificate_path="/c.crt"), ["needs both certificate_path and private_key_path"]),
    (dict(OK, certificate_path="/c.crt", private_key_path="/k"), ["only used with certificate: provided"]),
    (dict(OK, state="gone"), ["[0].state"]),
    (dict(OK, secret_name="Not Valid"), ["[0].secret_name"]),
    (dict(OK, colour="blue"), ["unknown keys colour"]),
    ("llm.example.org", ["[0] must be a mapping"]),
])
def test_bad_entries_name_the_variable(entry, words):
    errors = d.input_errors([entry])
    assert errors, entry
    text = " ".join(errors)
    assert "model_domains_mappings[0]" in text
    for w in words:
        assert w in text


def test_duplicates_and_not_a_list():
    assert "already mapped by model_domains_mappings[0]" in " ".join(d.input_errors([OK, dict(OK, model="other")]))
    assert d.input_errors({"domain": "x"}) == ["model_domains_mappings must be a list of mappings, got dict"]


def test_absent_provided_entry_keeps_its_files_without_error():
    assert d.input_errors([dict(OK, certificate="provided", certificate_path="/c", private_key_path="/k", state="absent")]) == []


def test_refusals():
    isvcs = {"demo/granite": ISVC}
    assert d.refusals([OK], isvcs, {}) == []
    assert "does not exist" in d.refusals([dict(OK, model="nope")], isvcs, {})[0]
    raw = dict(ISVC, metadata=dict(ISVC["metadata"], annotations={"serving.kserve.io/deploymentMode": "RawDeployment"}))
    assert "RawDeployment mode" in d.refusals([OK], {"demo/granite": raw}, {})[0]
    assert "claimed by project other" in d.refusals([OK], isvcs, {OK["domain"]: "other"})[0]
    assert d.refusals([OK], isvcs, {OK["domain"]: "demo"}) == []
    assert "not installed" in d.refusals([OK], isvcs, {}, knative_served=False)[0]
    # an absent mapping needs neither the model nor Knative
    assert d.refusals([dict(OK, state="absent", model="gone")], {}, {}, knative_served=False) == []


def test_domain_mapping_object():
    dm = d.domain_mapping(d.normalized(OK), ISVC)
    assert dm["spec"] == {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "granite-predictor",
                                  "namespace": "demo"}, "tls": {"secretName": "llm-models-example-org-tls"}}
    assert dm["metadata"]["ownerReferences"] == [{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                                  "name": "granite", "uid": "u-1", "blockOwnerDeletion": False}]
    assert "tls" not in d.domain_mapping(d.normalized(dict(OK, certificate="none")), ISVC)["spec"]
