"""Admission rules of the simulated operators' webhooks, as ValidatingAdmissionPolicies.

The testbed cannot call webhooks served by pods, so the rejections the real operators' webhooks
make are expressed with in-apiserver ValidatingAdmissionPolicies (CEL). "One per namespace" rules
use the kind itself as paramKind: every other object of the kind in the request namespace is a
parameter, and the check fails when one with a different name exists.
"""

from __future__ import annotations

from . import resources as R

MANAGER = "sim-admission"
# control plane versions a Service Mesh 2.x operator reconciles
SMCP_VERSIONS = ["v2.0", "v2.1", "v2.2", "v2.3", "v2.4", "v2.5", "v2.6"]


def _policy(name: str, group: str, version: str, plural: str, validations: list, param=None,
            operations=("CREATE",)) -> tuple[dict, dict]:
    spec = {
        # as the operators' webhooks: Fail; a policy with a paramKind Ignores, since a paramKind not
        # yet in discovery must not deny every request
        "failurePolicy": "Ignore" if param else "Fail",
        "matchConstraints": {"resourceRules": [{
            "apiGroups": [group], "apiVersions": ["*"], "operations": list(operations), "resources": [plural],
        }]},
        "validations": validations,
    }
    if param:
        spec["paramKind"] = {"apiVersion": f"{param.group}/{param.version}", "kind": param.kind}
    policy = {"metadata": {"name": name, "labels": {"testbed.openshift-ai.io/sim": "true"}}, "spec": spec}
    bspec = {"policyName": name, "validationActions": ["Deny"]}
    if param:
        bspec["paramRef"] = {"selector": {}, "parameterNotFoundAction": "Allow"}
    binding = {"metadata": {"name": name, "labels": {"testbed.openshift-ai.io/sim": "true"}}, "spec": bspec}
    return policy, binding


def policies_for(package: str) -> list:
    if package == "servicemeshoperator":
        return [_policy(
            "smcp.validation.maistra.io", "maistra.io", "*", "servicemeshcontrolplanes",
            [{"expression": "object.metadata.name == params.metadata.name",
              "message": "only one service mesh may be installed per project/namespace",
              "reason": "Forbidden"}],
            param=R.SMCP,
        ), _policy(
            # the operator's webhook refuses a control plane version it does not know, and an identity
            # type other than the two it implements (a wrong spec must not go Ready in the testbed)
            "smcp.spec.validation.maistra.io", "maistra.io", "*", "servicemeshcontrolplanes",
            [{"expression": "!has(object.spec) || !has(object.spec.version) || object.spec.version in " + repr(SMCP_VERSIONS),
              "messageExpression": "'invalid Version specified: ' + string(object.spec.version) + "
                                   "'; supported versions are: " + ", ".join(SMCP_VERSIONS) + "'",
              "reason": "Invalid"},
             {"expression": "!has(object.spec) || !has(object.spec.security) || !has(object.spec.security.identity) || "
                            "!has(object.spec.security.identity.type) || "
                            "object.spec.security.identity.type in ['Kubernetes', 'ThirdParty']",
              "message": "spec.security.identity.type must be Kubernetes or ThirdParty",
              "reason": "Invalid"}],
            operations=("CREATE", "UPDATE"),
        )]
    if package == "serverless-operator":
        return [
            _policy("validating.knativeserving.openshift.io", "operator.knative.dev", "*", "knativeservings",
                    [{"expression": "object.metadata.namespace == 'knative-serving'",
                      "message": "KnativeServing may only be created in the knative-serving namespace",
                      "reason": "Forbidden"}]),
            _policy("single.knativeserving.openshift.io", "operator.knative.dev", "*", "knativeservings",
                    [{"expression": "object.metadata.name == params.metadata.name",
                      "message": "Only one KnativeServing allowed per namespace", "reason": "Forbidden"}],
                    param=R.KNATIVESERVING),
        ]
    if package == "rhods-operator":
        return [
            _policy("operator.opendatahub.io.dscinitialization", "dscinitialization.opendatahub.io", "*",
                    "dscinitializations",
                    [{"expression": "object.metadata.name == params.metadata.name",
                      "message": "Only one instance of DSCInitialization object is allowed", "reason": "Forbidden"}],
                    param=R.DSCI),
            _policy("operator.opendatahub.io.datasciencecluster", "datasciencecluster.opendatahub.io", "*",
                    "datascienceclusters",
                    [{"expression": "object.metadata.name == params.metadata.name",
                      "message": "Only one instance of DataScienceCluster object is allowed", "reason": "Forbidden"}],
                    param=R.DSC),
        ]
    return []


def install(mgr, package: str) -> None:
    for policy, binding in policies_for(package):
        mgr.apply(R.VAP, policy, MANAGER)
        mgr.apply(R.VAPB, binding, MANAGER)


def uninstall(mgr, package: str) -> None:
    """OLM removes a CSV's webhook configurations with the CSV: the stand-in policies go too."""
    for policy, binding in policies_for(package):
        mgr.delete(R.VAPB, binding["metadata"]["name"])
        mgr.delete(R.VAP, policy["metadata"]["name"])
