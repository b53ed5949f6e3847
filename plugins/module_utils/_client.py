# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client layer: connection options, authentication and API discovery.

Every module builds exactly one :class:`Client` from its parameters. Nothing above
this layer reads a kubeconfig or the environment; the requests themselves go through the
transport layer (``_rest``), not the kubernetes library.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import threading
import time

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._errors import (
    ConnectionFailed,
    ResourceNotFound,
)

from ansible_collections.openshift_ai.model_serving.plugins.module_utils import _rest
from ansible_collections.openshift_ai.model_serving.plugins.module_utils._rest import (  # noqa: F401 (re-exported)
    ApiException,
    ResourceNotFoundError,
    ResourceNotUniqueError,
)

try:
    from urllib3.exceptions import ConnectTimeoutError
    from urllib3.exceptions import HTTPError as _Urllib3Error
except ImportError:  # pragma: no cover - the transport layer reports the missing library

    class _Urllib3Error(Exception):
        pass

    class ConnectTimeoutError(Exception):
        pass


# --------------------------------------------------------------------------- discovery cache
#
# Discovery (the kinds of each group/version a module uses) is persisted between module runs (a
# playbook starts dozens of modules against one cluster). A predictable name in the shared temp
# directory could be planted by another local user; the file lives in a directory only this user
# can write (mode 0700), and with none available discovery is not persisted at all.


def discovery_cache_file(host, ca=b"", base=None):
    """The discovery cache file for the cluster at ``host`` with CA ``ca``:
    <cache>/openshift_ai_model_serving/discovery-<sha256>.json under $XDG_CACHE_HOME (else ~/.cache),
    or os.devnull when that directory is not ours alone.

    The CA is in the key because an address alone does not identify a cluster: a cluster
    reinstalled behind the same API URL (or a test cluster on a reused port) has a new CA, and the
    discovery of the old one would name kinds the new one does not serve yet."""
    base = base or os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "openshift_ai_model_serving")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
        if not os.path.isdir(directory) or os.path.islink(directory) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return os.devnull
    except OSError:
        return os.devnull
    digest = hashlib.sha256((host or "").encode("utf-8") + b"\0" + (ca or b"")).hexdigest()[:32]
    return os.path.join(directory, "discovery-%s.json" % digest)


# --------------------------------------------------------------------------- transient failures
#
# Every request but a watch goes through :func:`resilient`: it gets a client-side timeout (a
# half-open connection cannot outlive the task) and is sent again, with backoff, when the API
# server answered 429/5xx or could not be reached (restart, failover), for at most RETRY_BUDGET
# seconds. A POST is sent again only when the server surely did not act on it (429, 503, or the
# connection was refused), so a create is never duplicated. Watches are left to the waiter, which
# re-lists when one breaks.

REQUEST_TIMEOUT = (10, 60)  # connect, read (seconds) of one request
WATCH_READ_SLACK = 30  # a watch's read timeout: its server-side timeoutSeconds plus this
RETRY_BUDGET = 45.0
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)
NOT_PROCESSED_STATUSES = (429, 503)  # the server refused before doing anything
_BACKOFF_BASE, _BACKOFF_MAX, _RETRY_AFTER_MAX = 0.25, 5.0, 10.0


def connection_refused(error):
    """True when ``error`` says the request never reached the server (refused, or no connection
    made in time; urllib3's NewConnectionError is a ConnectTimeoutError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (ConnectTimeoutError, ConnectionRefusedError)):
            return True
        error = getattr(error, "reason", None) if not isinstance(getattr(error, "reason", None), str) else None
    return False


def retry_delay(method, attempt, elapsed, status=None, retry_after=None, error=None, budget=RETRY_BUDGET):
    """Seconds to wait before sending a failed request again, or None to give up.

    ``status`` is the HTTP status of the answer, ``error`` the connection error when there was
    none; ``attempt`` counts the retries so far and ``elapsed`` the seconds since the first try."""
    post = (method or "").upper() == "POST"
    if error is not None:
        if post and not connection_refused(error):
            return None
    elif status in TRANSIENT_STATUSES:
        if post and status not in NOT_PROCESSED_STATUSES:
            return None
    else:
        return None
    delay = min(_BACKOFF_BASE * (2 ** attempt), _BACKOFF_MAX)
    if retry_after:
        delay = min(max(delay, retry_after), _RETRY_AFTER_MAX)
    if elapsed + delay > budget:
        return None
    return delay


def _query(url, query_params):
    text = url.split("?", 1)[1] if "?" in (url or "") else ""
    pairs = [p.split("=", 1) for p in text.split("&") if "=" in p]
    pairs += [list(p) for p in (query_params or []) if isinstance(p, (list, tuple)) and len(p) == 2]
    return dict((str(k), str(v)) for k, v in pairs)


def request_timeout(url, query_params=None):
    """``(watch, timeout)`` for a request: a watch reads until its server-side timeout plus slack."""
    query = _query(url, query_params)
    if query.get("watch", "").lower() not in ("true", "1"):
        return False, REQUEST_TIMEOUT
    seconds = query.get("timeoutSeconds")
    if seconds and re.match(r"^[0-9]+$", seconds):
        return True, (REQUEST_TIMEOUT[0], int(seconds) + WATCH_READ_SLACK)
    return True, None


def _retry_after(headers):
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value else None
    except (TypeError, ValueError, AttributeError):
        return None


def resilient(send, sleep=time.sleep, clock=time.monotonic):
    """Wrap a REST client's ``request(method, url, ...)`` with timeouts and transient retries.

    Once a request has spent the whole retry budget without an answer, every later request through
    the same wrapper (the same module run, its threads included) fails at once with that diagnosis:
    a server that stayed away for the budget is not waited for again, request after request."""
    unreachable = []

    def request(method, url, *args, **kwargs):
        if unreachable:
            raise ConnectionFailed("%s; %s %s not sent" % (unreachable[0], method, url.split("?", 1)[0]))
        watch, timeout = request_timeout(url, kwargs.get("query_params"))
        if kwargs.get("_request_timeout") is None and timeout is not None:
            kwargs["_request_timeout"] = timeout
        if watch:
            return send(method, url, *args, **kwargs)
        start, attempt = clock(), 0
        while True:
            response, failure, status, retry_after = None, None, None, None
            try:
                response = send(method, url, *args, **kwargs)
                status = getattr(response, "status", None)
                retry_after = _retry_after(getattr(response, "headers", None))
            except ApiException as e:  # older clients raise non-2xx answers here; 0 = TLS failure
                if not e.status:
                    raise
                failure, status, retry_after = e, e.status, _retry_after(getattr(e, "headers", None))
            except (_Urllib3Error, OSError) as e:
                failure = e
            delay = retry_delay(
                method, attempt, clock() - start, status, retry_after, failure if status is None else None
            )
            if delay is None:
                if failure is None:
                    return response
                if status is None:
                    unreachable.append(
                        "The API server did not answer %s %s (%d attempts in %.0fs): %s"
                        % (method, url.split("?", 1)[0], attempt + 1, clock() - start, failure)
                    )
                    raise ConnectionFailed(unreachable[0])
                raise failure
            if response is not None and hasattr(response, "read"):
                response.read()  # release the connection to the pool
            sleep(delay)
            attempt += 1

    return request


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


def build_configuration(conn, environ=None):
    """The :class:`_rest.Configuration` for the resolved connection options: ``host`` alone, else the
    kubeconfig (inline dict, path, or $KUBECONFIG / ~/.kube/config), else the pod's service account;
    then the explicit options override what the kubeconfig says."""
    environ = os.environ if environ is None else environ
    configuration = _rest.Configuration()
    kubeconfig = conn.get("kubeconfig")
    if conn.get("host") and not kubeconfig:
        configuration.host = conn["host"]
    else:
        try:
            path = os.path.expanduser(kubeconfig) if isinstance(kubeconfig, str) and kubeconfig else None
            source = kubeconfig if isinstance(kubeconfig, dict) else path
            if source is None and not any(os.path.exists(p) for p in _rest.default_kubeconfig_paths(environ)):
                _rest.load_incluster(configuration, environ)
            else:
                try:
                    _rest.load_kubeconfig(source, conn.get("context"), configuration, environ)
                except _rest.PluginUser:
                    _rest.load_with_plugin(source, conn.get("context"), configuration)
        except Exception as e:
            # An inline kubeconfig holds tokens and keys: it is never put in the result.
            raise ConnectionFailed(
                "Could not load the cluster credentials: %s" % e,
                kubeconfig="(an inline kubeconfig, not shown)" if isinstance(kubeconfig, dict) else kubeconfig)
        if conn.get("host"):
            configuration.host = conn["host"]
    configuration.host = (configuration.host or "").rstrip("/")
    if conn.get("api_key"):
        configuration.api_key = {"authorization": "Bearer %s" % conn["api_key"]}
    if conn.get("validate_certs") is not None:
        configuration.verify_ssl = bool(conn["validate_certs"])
    if conn.get("ca_cert"):
        configuration.ssl_ca_cert, configuration.ca_data = conn["ca_cert"], None
    if conn.get("client_cert"):
        configuration.cert_file, configuration.cert_data = conn["client_cert"], None
    if conn.get("client_key"):
        configuration.key_file, configuration.key_data = conn["client_key"], None
    return configuration


class Client(object):
    """One authenticated connection: requests with retries, discovery, the kinds' verbs."""

    def __init__(self, params, environ=None):
        if not _rest.HAS_URLLIB3:
            raise ConnectionFailed("The urllib3 Python library is required: %s" % _rest.URLLIB3_IMPORT_ERROR)
        self.conn = connection_params(params, environ)
        self.configuration = build_configuration(self.conn, environ)
        try:
            self.rest = _rest.RestClient(self.configuration)
        except Exception as e:
            raise ConnectionFailed("Could not set up the connection to %s: %s" % (self.configuration.host, e))
        self.rest.request = resilient(self.rest.request)
        self._dynamic = None
        # Discovery is kept in one cache per client, filled on a miss while another thread may read it:
        # resources_patch and models_apply share one client between threads.
        self._discovery_lock = threading.RLock()

    @property
    def dynamic(self):
        """Discovery (``resources.get``), ``request``, ``watch`` and the verbs of each kind."""
        if self._dynamic is None:
            configuration = self.configuration
            self._dynamic = _rest.DynamicClient(
                self.rest, cache_file=discovery_cache_file(configuration.host, configuration.ca_bytes()))
        return self._dynamic

    def request_token(self, name, namespace, body):
        """A TokenRequest for ServiceAccount ``namespace/name``: the answer as a dict."""
        return self.dynamic.request(
            "post", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (namespace, name), body=body)

    def resource(self, api_version, kind):
        """Return the dynamic resource for api_version/kind, re-reading discovery once on a miss.

        Raises ResourceNotFound naming the kind when it is unknown (CRD not installed)."""
        with self._discovery_lock:
            return self._resource(api_version, kind)

    def _resource(self, api_version, kind):
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
