"""Descriptors of every kind the simulated operators read or write."""

from .kube import Res

# core / built-in
NAMESPACE = Res("", "v1", "namespaces", "Namespace", namespaced=False)
NODE = Res("", "v1", "nodes", "Node", namespaced=False)
POD = Res("", "v1", "pods", "Pod")
SERVICE = Res("", "v1", "services", "Service")
CONFIGMAP = Res("", "v1", "configmaps", "ConfigMap")
SECRET = Res("", "v1", "secrets", "Secret")
SERVICEACCOUNT = Res("", "v1", "serviceaccounts", "ServiceAccount")
DEPLOYMENT = Res("apps", "v1", "deployments", "Deployment")
DAEMONSET = Res("apps", "v1", "daemonsets", "DaemonSet")
ROLE = Res("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLEBINDING = Res("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
CRD = Res("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False)
VAP = Res("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", namespaced=False)
VAPB = Res("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
           "ValidatingAdmissionPolicyBinding", namespaced=False)

# OpenShift
ROUTE = Res("route.openshift.io", "v1", "routes", "Route")
GROUP = Res("user.openshift.io", "v1", "groups", "Group", namespaced=False)
INGRESS_CONFIG = Res("config.openshift.io", "v1", "ingresses", "Ingress", namespaced=False)
INFRASTRUCTURE = Res("config.openshift.io", "v1", "infrastructures", "Infrastructure", namespaced=False)

# OLM
SUBSCRIPTION = Res("operators.coreos.com", "v1alpha1", "subscriptions", "Subscription")
INSTALLPLAN = Res("operators.coreos.com", "v1alpha1", "installplans", "InstallPlan")
CSV = Res("operators.coreos.com", "v1alpha1", "clusterserviceversions", "ClusterServiceVersion")
CATALOGSOURCE = Res("operators.coreos.com", "v1alpha1", "catalogsources", "CatalogSource")
OPERATORGROUP = Res("operators.coreos.com", "v1", "operatorgroups", "OperatorGroup")
OPERATORCONDITION = Res("operators.coreos.com", "v2", "operatorconditions", "OperatorCondition")
PACKAGEMANIFEST = Res("packages.operators.coreos.com", "v1", "packagemanifests", "PackageManifest")

# Service Mesh
SMCP = Res("maistra.io", "v2", "servicemeshcontrolplanes", "ServiceMeshControlPlane")
SMM = Res("maistra.io", "v1", "servicemeshmembers", "ServiceMeshMember")
SMMR = Res("maistra.io", "v1", "servicemeshmemberrolls", "ServiceMeshMemberRoll")
GATEWAY = Res("networking.istio.io", "v1beta1", "gateways", "Gateway")
ENVOYFILTER = Res("networking.istio.io", "v1alpha3", "envoyfilters", "EnvoyFilter")
AUTHZ_POLICY = Res("security.istio.io", "v1beta1", "authorizationpolicies", "AuthorizationPolicy")

# Serverless
KNATIVESERVING = Res("operator.knative.dev", "v1beta1", "knativeservings", "KnativeServing")
KSVC = Res("serving.knative.dev", "v1", "services", "Service")
DOMAINMAPPING = Res("serving.knative.dev", "v1beta1", "domainmappings", "DomainMapping")
CLUSTERDOMAINCLAIM = Res("networking.internal.knative.dev", "v1alpha1", "clusterdomainclaims", "ClusterDomainClaim",
                         namespaced=False)

# Authorino
AUTHORINO = Res("operator.authorino.kuadrant.io", "v1beta1", "authorinos", "Authorino")
AUTHCONFIG = Res("authorino.kuadrant.io", "v1beta2", "authconfigs", "AuthConfig")

# OpenShift AI
DSCI = Res("dscinitialization.opendatahub.io", "v1", "dscinitializations", "DSCInitialization", namespaced=False)
DSC = Res("datasciencecluster.opendatahub.io", "v1", "datascienceclusters", "DataScienceCluster", namespaced=False)
FEATURETRACKER = Res("features.opendatahub.io", "v1", "featuretrackers", "FeatureTracker", namespaced=False)
ACCELERATORPROFILE = Res("dashboard.opendatahub.io", "v1", "acceleratorprofiles", "AcceleratorProfile")
SERVINGRUNTIME = Res("serving.kserve.io", "v1alpha1", "servingruntimes", "ServingRuntime")
ISVC = Res("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService")
MODELREGISTRY = Res("modelregistry.opendatahub.io", "v1alpha1", "modelregistries", "ModelRegistry")

# GPU
NFD = Res("nfd.openshift.io", "v1", "nodefeaturediscoveries", "NodeFeatureDiscovery")
CLUSTERPOLICY = Res("nvidia.com", "v1", "clusterpolicies", "ClusterPolicy", namespaced=False)
