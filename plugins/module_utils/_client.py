# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client layer: connection options, authentication and API discovery.

Every module builds exactly one :class:`Client` from its parameters. Nothing above
this layer touches ``kubernetes.config`` or the environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ConnectionFailed,
    ResourceNotFound,
)

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - exercised by sanity import tests
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = e


# Argument spec shared by every module; names, aliases and environment variables follow kubernetes.core.
CONNECTION_ARG_SPEC = dict(
    kubeconfig=dict(type="raw"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
)

ENV_FALLBACK = dict(
    kubeconfig="K8S_AUTH_KUBECONFIG",
    context="K8S_AUTH_CONTEXT",
    host="K8S_AUTH_HOST",
    api_key="K8S_AUTH_API_KEY",
    validate_certs="K8S_AUTH_VERIFY_SSL",
    ca_cert="K8S_AUTH_SSL_CA_CERT",
    client_cert="K8S_AUTH_CERT_FILE",
    client_key="K8S_AUTH_KEY_FILE",
)

_TRUE = ("1", "true", "yes", "on")


def connection_params(params, environ=None):
    """Resolve the connection options: explicit parameter first, then K8S_AUTH_* variables."""
    environ = os.environ if environ is None else environ
    out = {}
    for name, var in ENV_FALLBACK.items():
        value = params.get(name)
        if value is None and environ.get(var) not in (None, ""):
            value = environ[var]
            if name == "validate_certs":
                value = value.strip().lower() in _TRUE
        out[name] = value
    return out


def _build_api_client(conn):
    configuration = k8s_client.Configuration()
    kubeconfig = conn.get("kubeconfig")
    if conn.get("host") and not kubeconfig:
        configuration.host = conn["host"]
    else:
        try:
            if isinstance(kubeconfig, dict):
                k8s_config.load_kube_config_from_dict(
                    kubeconfig, context=conn.get("context"), client_configuration=configuration
                )
            else:
                path = os.path.expanduser(kubeconfig) if kubeconfig else None
                if path is None and not os.path.exists(os.path.expanduser(k8s_config.KUBE_CONFIG_DEFAULT_LOCATION)):
                    k8s_config.load_incluster_config(client_configuration=configuration)
                else:
                    k8s_config.load_kube_config(
                        config_file=path, context=conn.get("context"), client_configuration=configuration
                    )
        except Exception as e:
            raise ConnectionFailed("Could not load the cluster credentials: %s" % e, kubeconfig=str(kubeconfig))
        if conn.get("host"):
            configuration.host = conn["host"]
    if conn.get("api_key"):
        configuration.api_key = {"authorization": "Bearer %s" % conn["api_key"]}
    if conn.get("validate_certs") is not None:
        configuration.verify_ssl = bool(conn["validate_certs"])
    if conn.get("ca_cert"):
        configuration.ssl_ca_cert = conn["ca_cert"]
    if conn.get("client_cert"):
        configuration.cert_file = conn["client_cert"]
    if conn.get("client_key"):
        configuration.key_file = conn["client_key"]
    return k8s_client.ApiClient(configuration)


class Client(object):
    """One authenticated connection: typed core API, dynamic client and discovery."""

    def __init__(self, params, environ=None):
        if not HAS_KUBERNETES:
            raise ConnectionFailed("The kubernetes Python library is required: %s" % KUBERNETES_IMPORT_ERROR)
        self.conn = connection_params(params, environ)
        self.api_client = _build_api_client(self.conn)
        self._dynamic = None
        self._core = None

    @property
    def core(self):
        """Typed CoreV1Api, built on first use: importing its models costs seconds with kubernetes >= 35."""
        if self._core is None:
            self._core = k8s_client.CoreV1Api(self.api_client)
        return self._core

    @core.setter
    def core(self, value):
        self._core = value

    @property
    def dynamic(self):
        if self._dynamic is None:
            try:
                self._dynamic = DynamicClient(self.api_client)
            except Exception as e:
                raise ConnectionFailed(
                    "Could not reach the API server at %s: %s" % (self.api_client.configuration.host, e)
                )
        return self._dynamic

    def resource(self, api_version, kind):
        """Return the dynamic resource for api_version/kind, re-reading discovery once on a miss.

        Raises ResourceNotFound naming the kind when it is unknown (CRD not installed)."""
        for attempt in (0, 1):
            try:
                return self.dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                if attempt == 0:
                    self.dynamic.resources.invalidate_cache()
                    continue
                raise ResourceNotFound(
                    "The cluster does not serve %s %s: is its operator (CRD) installed?" % (api_version, kind),
                    api_version=api_version,
                    kind=kind,
                )
            except ResourceNotUniqueError:
                raise ResourceNotFound("%s %s is ambiguous on this cluster" % (api_version, kind))
        return None  # pragma: no cover
