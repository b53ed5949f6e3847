"""Generates the operator CRDs in testbed/crds/operators/ (run: python -m testbed.sim.crdgen).

Schemas type the fields the collection reads or writes; everything else is kept with
x-kubernetes-preserve-unknown-fields. Written by hand from the API facts in
shared/reference/operator-api.md, not copied from upstream CRDs.
"""

from __future__ import annotations

import os
import sys

import yaml

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "crds", "operators")

FREE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
S = {"type": "string"}
B = {"type": "boolean"}
I = {"type": "integer"}
STRLIST = {"type": "array", "items": S}
MGMT = {"type": "string", "enum": ["Managed", "Unmanaged", "Removed"]}


def obj(props: dict | None = None, required=None, free=True) -> dict:
    o = {"type": "object"}
    if free:
        o["x-kubernetes-preserve-unknown-fields"] = True
    if props:
        o["properties"] = props
    if required:
        o["required"] = required
    return o


def arr(items: dict) -> dict:
    return {"type": "array", "items": items}


CONDITIONS = arr(obj({"type": S, "status": S, "reason": S, "message": S, "lastTransitionTime": S}))


def crd(group, kind, plural, versions, scope="Namespaced", short=(), spec=None, status=None,
        printer=(), categories=()):
    vers = []
    for i, v in enumerate(versions):
        schema = obj({"apiVersion": S, "kind": S, "metadata": {"type": "object"},
                      "spec": spec or FREE, "status": status or FREE}, free=False)
        ver = {"name": v, "served": True, "storage": i == 0,
               "schema": {"openAPIV3Schema": schema}, "subresources": {"status": {}}}
        if printer:
            ver["additionalPrinterColumns"] = [
                {"name": n, "type": t, "jsonPath": p} for n, t, p in printer
            ]
        vers.append(ver)
    names = {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"}
    if short:
        names["shortNames"] = list(short)
    if categories:
        names["categories"] = list(categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"testbed.openshift-ai.io/sim": "true"}},
        "spec": {"group": group, "names": names, "scope": scope, "versions": vers},
    }


AGE = ("Age", "date", ".metadata.creationTimestamp")
READY_COND = ("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')

GATEWAY_SERVERS = arr(obj({
    "hosts": STRLIST,
    "port": obj({"name": S, "number": I, "protocol": S}),
    "tls": obj({"mode": S, "credentialName": S}),
}))

SMCP_SPEC = obj({
    "version": S,
    "mode": S,
    "tracing": obj({"type": S}),
    "addons": FREE,
    "security": obj({"dataPlane": obj({"mtls": B}), "identity": obj({"type": S})}),
    "techPreview": obj({"meshConfig": obj({
        "extensionProviders": arr(obj({
            "name": S,
            "envoyExtAuthzGrpc": obj({"service": S, "port": I}),
            "envoyExtAuthzHttp": obj({"service": S, "port": I}),
        })),
    })}),
    "gateways": obj({
        "enabled": B,
        "openshiftRoute": obj({"enabled": B}),
        "ingress": obj({"enabled": B, "service": obj({"metadata": obj({"labels": {"type": "object", "additionalProperties": S}})})}),
        "egress": obj({"enabled": B}),
    }),
    "proxy": FREE,
})

# OdhDashboardConfig spec.dashboardConfig switches typed as booleans (others are kept as given).
DASHBOARD_FLAGS = (
    "enablement", "disableInfo", "disableSupport", "disableClusterManager", "disableTracking",
    "disableBYONImageStream", "disableISVBadges", "disableAppLauncher", "disableUserManagement",
    "disableHome", "disableProjects", "disableModelServing", "disableProjectSharing",
    "disableCustomServingRuntimes", "disablePipelines", "disableKServe", "disableKServeAuth",
    "disableKServeMetrics", "disableKServeRaw", "disableModelMesh", "disableAcceleratorProfiles",
    "disableHardwareProfiles", "disableDistributedWorkloads", "disableModelRegistry",
    "disableModelRegistrySecureDB", "disableServingRuntimeParams", "disableNIMModelServing",
    "disableStorageClasses", "disableTrustyBiasMetrics", "disablePerformanceMetrics",
    "disableConnectionTypes", "disableModelCatalog", "enableKServeTimeoutAlternate",
)

SPECS = {
    # --- Service Mesh -----------------------------------------------------------------------
    "servicemeshoperator": [
        crd("maistra.io", "ServiceMeshControlPlane", "servicemeshcontrolplanes", ["v2", "v1"], short=["smcp"],
            spec=SMCP_SPEC,
            printer=[("Ready", "string", ".status.annotations.readyComponentCount"),
                     ("Status", "string", '.status.conditions[?(@.type=="Ready")].reason'),
                     ("Profiles", "string", ".status.appliedSpec.profiles"),
                     ("Version", "string", ".status.chartVersion"), AGE]),
        crd("maistra.io", "ServiceMeshMember", "servicemeshmembers", ["v1"], short=["smm"],
            spec=obj({"controlPlaneRef": obj({"name": S, "namespace": S}, required=["name", "namespace"])},
                     required=["controlPlaneRef"]),
            printer=[("Control Plane", "string", ".status.annotations.controlPlaneRef"), READY_COND, AGE]),
        crd("maistra.io", "ServiceMeshMemberRoll", "servicemeshmemberrolls", ["v1"], short=["smmr"],
            spec=obj({"members": STRLIST, "memberSelectors": arr(FREE)}),
            printer=[("Ready", "string", ".status.annotations.configuredMemberCount"),
                     ("Status", "string", '.status.conditions[?(@.type=="Ready")].reason'), AGE,
                     ("Members", "string", ".status.members")]),
        crd("networking.istio.io", "Gateway", "gateways", ["v1beta1", "v1alpha3", "v1"], short=["gw"],
            spec=obj({"selector": {"type": "object", "additionalProperties": S}, "servers": GATEWAY_SERVERS})),
        crd("networking.istio.io", "VirtualService", "virtualservices", ["v1beta1", "v1alpha3", "v1"], short=["vs"]),
        crd("networking.istio.io", "DestinationRule", "destinationrules", ["v1beta1", "v1alpha3", "v1"], short=["dr"]),
        crd("networking.istio.io", "EnvoyFilter", "envoyfilters", ["v1alpha3"],
            spec=obj({"priority": I, "workloadSelector": obj({"labels": {"type": "object", "additionalProperties": S}}),
                      "configPatches": arr(FREE)})),
        crd("security.istio.io", "AuthorizationPolicy", "authorizationpolicies", ["v1beta1", "v1"], short=["ap"],
            spec=obj({"action": {"type": "string", "enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
                      "provider": obj({"name": S}),
                      "selector": obj({"matchLabels": {"type": "object", "additionalProperties": S}}),
                      "rules": arr(FREE)})),
        crd("security.istio.io", "PeerAuthentication", "peerauthentications", ["v1beta1", "v1"], short=["pa"]),
    ],
    # --- Serverless -------------------------------------------------------------------------
    "serverless-operator": [
        crd("operator.knative.dev", "KnativeServing", "knativeservings", ["v1beta1", "v1alpha1"], short=["ks"],
            spec=obj({
                "workloads": arr(obj({"name": S, "replicas": I,
                                      "annotations": {"type": "object", "additionalProperties": S},
                                      "labels": {"type": "object", "additionalProperties": S},
                                      "env": arr(obj({"container": S, "envVars": arr(obj({"name": S, "value": S}))}))})),
                "ingress": obj({"istio": obj({"enabled": B}), "kourier": obj({"enabled": B})}),
                "config": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": S}},
                "high-availability": obj({"replicas": I}),
            }),
            printer=[("Version", "string", ".status.version"), READY_COND,
                     ("Reason", "string", '.status.conditions[?(@.type=="Ready")].reason')]),
        crd("operator.knative.dev", "KnativeEventing", "knativeeventings", ["v1beta1", "v1alpha1"], short=["ke"]),
    ],
    # --- Authorino --------------------------------------------------------------------------
    "authorino-operator": [
        crd("operator.authorino.kuadrant.io", "Authorino", "authorinos", ["v1beta1"],
            spec=obj({"replicas": I, "clusterWide": B, "authConfigLabelSelectors": S,
                      "listener": obj({"tls": obj({"enabled": B, "certSecretRef": obj({"name": S})})}),
                      "oidcServer": obj({"tls": obj({"enabled": B, "certSecretRef": obj({"name": S})})})},
                     required=["listener", "oidcServer"]),
            printer=[READY_COND, AGE]),
        crd("authorino.kuadrant.io", "AuthConfig", "authconfigs", ["v1beta2", "v1beta3"],
            spec=obj({"hosts": STRLIST}), printer=[READY_COND]),
    ],
    # --- OpenShift AI -----------------------------------------------------------------------
    "rhods-operator": [
        crd("dscinitialization.opendatahub.io", "DSCInitialization", "dscinitializations", ["v1"], scope="Cluster",
            short=["dsci"],
            spec=obj({
                "applicationsNamespace": S,
                "monitoring": obj({"managementState": MGMT, "namespace": S}),
                "serviceMesh": obj({"managementState": MGMT,
                                    "controlPlane": obj({"name": S, "namespace": S, "metricsCollection": S}),
                                    "auth": obj({"namespace": S, "audiences": STRLIST})}),
                "trustedCABundle": obj({"managementState": MGMT, "customCABundle": S}),
            }),
            printer=[AGE, ("Phase", "string", ".status.phase"),
                     ("Created At", "string", ".metadata.creationTimestamp")]),
        crd("datasciencecluster.opendatahub.io", "DataScienceCluster", "datascienceclusters", ["v1"], scope="Cluster",
            short=["dsc"],
            spec=obj({"components": obj({
                "kserve": obj({
                    "managementState": MGMT,
                    "defaultDeploymentMode": {"type": "string", "enum": ["Serverless", "RawDeployment"]},
                    "serving": obj({"managementState": MGMT, "name": S,
                                    "ingressGateway": obj({"domain": S, "certificate": obj({
                                        "type": {"type": "string", "enum": ["SelfSigned", "Provided", "OpenshiftDefaultIngress"]},
                                        "secretName": S})})}),
                }),
                "modelregistry": obj({"managementState": MGMT, "registriesNamespace": S}),
            })}),
            printer=[AGE, ("Phase", "string", ".status.phase")]),
        crd("features.opendatahub.io", "FeatureTracker", "featuretrackers", ["v1"], scope="Cluster",
            printer=[("Phase", "string", ".status.phase")]),
        crd("opendatahub.io", "OdhDashboardConfig", "odhdashboardconfigs", ["v1alpha"],
            spec=obj({
                "dashboardConfig": obj({k: B for k in DASHBOARD_FLAGS}),
                "modelServerSizes": arr(obj({"name": S, "resources": obj({
                    "requests": obj({"cpu": S, "memory": S}),
                    "limits": obj({"cpu": S, "memory": S})})}, required=["name", "resources"])),
                "templateOrder": STRLIST,
                "templateDisablement": STRLIST,
                "notebookController": FREE,
                "notebookSizes": arr(FREE),
                "groupsConfig": FREE,
            })),
        crd("dashboard.opendatahub.io", "AcceleratorProfile", "acceleratorprofiles", ["v1", "v1alpha"],
            spec=obj({"displayName": S, "enabled": B, "identifier": S, "description": S, "tolerations": arr(FREE)},
                     required=["displayName", "enabled", "identifier"])),
    ],
    # --- components deployed by the RHOAI operator ------------------------------------------
    "component-kserve": [
        crd("serving.kserve.io", "ServingRuntime", "servingruntimes", ["v1alpha1"],
            spec=obj({"supportedModelFormats": arr(obj({"name": S, "version": S, "autoSelect": B})),
                      "multiModel": B, "disabled": B, "containers": arr(FREE)}),
            printer=[("Disabled", "boolean", ".spec.disabled"),
                     ("ModelType", "string", ".spec.supportedModelFormats[*].name"),
                     ("Containers", "string", ".spec.containers[*].name"), AGE]),
        crd("serving.kserve.io", "InferenceService", "inferenceservices", ["v1beta1"], short=["isvc"],
            spec=obj({"predictor": obj({"minReplicas": I, "maxReplicas": I,
                                        "model": obj({"modelFormat": obj({"name": S, "version": S}),
                                                      "runtime": S, "storageUri": S,
                                                      "storage": obj({"key": S, "path": S})})})},
                     required=["predictor"]),
            printer=[("URL", "string", ".status.url"), READY_COND,
                     ("LatestReadyRevision", "string", ".status.components.predictor.latestReadyRevision"), AGE]),
    ],
    "component-modelregistry": [
        crd("modelregistry.opendatahub.io", "ModelRegistry", "modelregistries", ["v1alpha1", "v1beta1"], short=["mr"],
            spec=obj({"rest": obj({"port": I}), "grpc": obj({"port": I}),
                      "mysql": obj({"host": S, "port": I, "database": S, "username": S}),
                      "postgres": obj({"host": S, "port": I, "database": S, "username": S}),
                      "istio": FREE}, required=["rest", "grpc"]),
            printer=[AGE, ("Available", "string", '.status.conditions[?(@.type=="Available")].status')]),
    ],
    "component-knative-serving": [
        crd("serving.knative.dev", "Service", "services", ["v1"], short=["ksvc"], categories=["knative", "serving"],
            printer=[("URL", "string", ".status.url"), ("LatestCreated", "string", ".status.latestCreatedRevisionName"),
                     ("LatestReady", "string", ".status.latestReadyRevisionName"), READY_COND]),
        crd("serving.knative.dev", "DomainMapping", "domainmappings", ["v1beta1", "v1alpha1"], short=["dm"],
            categories=["knative", "serving"],
            spec=obj({"ref": obj({"apiVersion": S, "kind": S, "name": S, "namespace": S}, required=["kind", "name"]),
                      "tls": obj({"secretName": S})}, required=["ref"]),
            printer=[("URL", "string", ".status.url"), READY_COND]),
        crd("networking.internal.knative.dev", "ClusterDomainClaim", "clusterdomainclaims", ["v1alpha1"],
            scope="Cluster", short=["cdc"], spec=obj({"namespace": S}, required=["namespace"])),
    ],
    # --- GPU --------------------------------------------------------------------------------
    "nfd": [
        crd("nfd.openshift.io", "NodeFeatureDiscovery", "nodefeaturediscoveries", ["v1"],
            spec=obj({"operand": obj({"image": S, "servicePort": I}),
                      "workerConfig": obj({"configData": S})})),
    ],
    "gpu-operator-certified": [
        crd("nvidia.com", "ClusterPolicy", "clusterpolicies", ["v1"], scope="Cluster",
            printer=[("Status", "string", ".status.state"), AGE]),
    ],
}


def main(out: str = OUT) -> None:
    for pkg, crds in SPECS.items():
        d = os.path.join(out, pkg)
        os.makedirs(d, exist_ok=True)
        for c in crds:
            path = os.path.join(d, c["metadata"]["name"] + ".yaml")
            with open(path, "w") as f:
                f.write("# Generated by testbed/sim/crdgen.py - edit the generator, not this file.\n")
                yaml.safe_dump(c, f, sort_keys=False)
    print(f"wrote CRDs under {out}", file=sys.stderr)


if __name__ == "__main__":
    main(*(sys.argv[1:2]))
