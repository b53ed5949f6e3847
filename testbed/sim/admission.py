"""Admission rules of the simulated operators' webhooks, as ValidatingAdmissionPolicies.

The testbed cannot call webhooks served by pods, so the rejections the real operators' webhooks
make are expressed with in-apiserver ValidatingAdmissionPolicies (CEL). "One per namespace" rules
use the kind itself as paramKind: every other object of the kind in the request namespace is a
parameter, and the check fails when one with a different name exists.
"""

from __future__ import annotations

from . import resources as R

MANAGER = "sim-admission"


def _policy(name: str, group: str, version: str, plural: str, validations: list, param=None,
            operations=("CREATE",)) -> tuple[dict, dict]:
    spec = {
        "failurePolicy": "Ignore",  # a paramKind not yet in discovery must not deny
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
