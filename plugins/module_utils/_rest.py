# -*- coding: utf-8 -*-
# Copyright: (c) 2026, OpenShift AI model_serving maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport layer: the REST calls the modules make, on urllib3.

Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

The modules need a small part of the kubernetes library: load a kubeconfig (or the in-cluster
service account), find a kind's REST path, and get, list, watch, create, merge-patch and delete
objects. Importing that library costs about 0.3 s per module process (its configuration loader
pulls in pydantic, oauthlib and requests), which is most of a module's start-up. This layer does
those calls with urllib3 (already a dependency of the library) and PyYAML:

- :func:`load_kubeconfig` / :func:`load_incluster` fill a :class:`Configuration`; a kubeconfig user
  that authenticates through an ``exec`` or ``auth-provider`` plugin is handed to the kubernetes
  library (imported only then), which runs the plugin;
- :class:`RestClient` sends one request (the client layer wraps it with timeouts and retries);
- :class:`DynamicClient` finds a kind in the discovery document of its group/version only (one
  request, cached on disk between module runs) and returns a :class:`Resource` with the verbs.

Answers are plain dicts (:class:`ResourceDict`); a non-2xx answer raises :class:`ApiException`
with ``status``, ``reason``, ``body`` and ``headers``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import ssl
import tempfile

from urllib.parse import quote, urlencode

try:
    import urllib3

    HAS_URLLIB3 = True
    URLLIB3_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - exercised by sanity import tests
    HAS_URLLIB3 = False
    URLLIB3_IMPORT_ERROR = e

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False


JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = "openshift-ai-model-serving"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ApiException(Exception):
    """A non-2xx answer of the API server (same attributes as the kubernetes library's)."""

    def __init__(self, status=None, reason=None, http_resp=None, body=None, headers=None):
        if http_resp is not None:
            status = getattr(http_resp, "status", status)
            reason = getattr(http_resp, "reason", reason)
            data = getattr(http_resp, "data", None)
            body = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            headers = getattr(http_resp, "headers", headers)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers
        super(ApiException, self).__init__(status, reason)

    def __str__(self):
        text = "(%s)\nReason: %s\n" % (self.status, self.reason)
        if self.body:
            text += "HTTP response body: %s\n" % self.body
        return text


class ConfigError(Exception):
    """The credentials could not be loaded (the client layer names the kubeconfig)."""


class PluginUser(ConfigError):
    """The selected kubeconfig user authenticates through an exec or auth-provider plugin
    (:func:`load_with_plugin` runs it)."""


class ResourceNotFoundError(Exception):
    """Discovery does not list the kind."""


class ResourceNotUniqueError(Exception):
    """Discovery lists the kind more than once in its group/version."""


class ResourceDict(dict):
    """An answer of the API server; ``to_dict()`` for code written against the kubernetes library."""

    def to_dict(self):
        return self


# --------------------------------------------------------------------------- credentials


class Configuration(object):
    """Where the API server is and how to authenticate (attribute names follow the kubernetes library)."""

    def __init__(self):
        self.host = "http://localhost"
        self.verify_ssl = True
        self.ssl_ca_cert = None  # path of the CA bundle
        self.ca_data = None  # or its PEM bytes
        self.cert_file = None
        self.key_file = None
        self.cert_data = None  # client certificate and key as PEM bytes (kubeconfig *-data)
        self.key_data = None
        self.api_key = {}  # {"authorization": "Bearer <token>"}
        self.username = None
        self.password = None
        self.tls_server_name = None
        self.proxy = None

    def ca_bytes(self):
        """The CA the client trusts, as bytes ("" when the system's)."""
        if self.ca_data:
            return self.ca_data
        if self.ssl_ca_cert:
            try:
                with open(self.ssl_ca_cert, "rb") as f:
                    return f.read()
            except (IOError, OSError):
                return b""
        return b""


def default_kubeconfig_paths(environ=None):
    """The files ``$KUBECONFIG`` names (a path list), else ``~/.kube/config``."""
    environ = os.environ if environ is None else environ
    value = environ.get("KUBECONFIG") or "~/.kube/config"
    return [os.path.expanduser(p) for p in value.split(os.pathsep) if p]


def _named(entries, what):
    out = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError("a %s entry of the kubeconfig has no name" % what)
        out.setdefault(entry["name"], (entry.get(what) or {}, entry.get("_base")))
    return out


def _merge_documents(documents):
    """One kubeconfig from several (``$KUBECONFIG`` lists): the first file that names an entry or
    sets current-context wins, as kubectl does."""
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    for doc, base in documents:
        if not isinstance(doc, dict):
            raise ConfigError("the kubeconfig is not a mapping")
        for key in ("clusters", "users", "contexts"):
            for entry in doc.get(key) or []:
                if isinstance(entry, dict):
                    merged[key].append(dict(entry, _base=base))
        if not merged["current-context"] and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged


def _data_or_file(section, key, base):
    """PEM bytes of ``<key>-data`` (base64) or of the file ``<key>`` (relative to the kubeconfig's directory)."""
    data = section.get(key + "-data")
    if data:
        try:
            return base64.b64decode(data), None
        except (TypeError, ValueError) as e:
            raise ConfigError("%s-data is not base64: %s" % (key, e))
    path = section.get(key)
    if path:
        path = os.path.expanduser(path)
        if base and not os.path.isabs(path):
            path = os.path.join(base, path)
        return None, path
    return None, None


def _documents(kubeconfig, environ=None):
    if not HAS_YAML:
        raise ConfigError("PyYAML is required to read a kubeconfig")
    if isinstance(kubeconfig, dict):
        return [(kubeconfig, None)]
    paths = [os.path.expanduser(kubeconfig)] if kubeconfig else default_kubeconfig_paths(environ)
    documents = []
    for path in paths:
        if not os.path.exists(path):
            if kubeconfig:
                raise ConfigError("kubeconfig file %s does not exist" % path)
            continue
        try:
            with open(path) as f:
                documents.append((yaml.safe_load(f) or {}, os.path.dirname(os.path.abspath(path))))
        except (IOError, OSError, yaml.YAMLError) as e:
            raise ConfigError("could not read %s: %s" % (path, e))
    if not documents:
        raise ConfigError("no kubeconfig found (%s)" % ", ".join(paths))
    return documents


def load_kubeconfig(kubeconfig=None, context=None, configuration=None, environ=None):
    """Fill ``configuration`` from a kubeconfig (a dict, a path, or the default files) for
    ``context`` (default: current-context). A user with an exec/auth-provider plugin raises
    :class:`PluginUser`: see :func:`load_with_plugin`."""
    configuration = configuration or Configuration()
    merged = _merge_documents(_documents(kubeconfig, environ))
    name = context or merged["current-context"]
    if not name:
        raise ConfigError("the kubeconfig sets no current-context and no context was given")
    contexts = _named(merged["contexts"], "context")
    if name not in contexts:
        raise ConfigError("context %s is not in the kubeconfig" % name)
    ctx = contexts[name][0]
    user, ubase = _named(merged["users"], "user").get(ctx.get("user"), ({}, None))
    if user.get("exec") or user.get("auth-provider"):
        raise PluginUser("user %s authenticates through a plugin" % ctx.get("user"))
    clusters = _named(merged["clusters"], "cluster")
    if ctx.get("cluster") not in clusters:
        raise ConfigError("cluster %s of context %s is not in the kubeconfig" % (ctx.get("cluster"), name))
    cluster, cbase = clusters[ctx["cluster"]]
    if not cluster.get("server"):
        raise ConfigError("cluster %s has no server" % ctx["cluster"])
    configuration.host = cluster["server"].rstrip("/")
    if cluster.get("insecure-skip-tls-verify"):
        configuration.verify_ssl = False
    configuration.ca_data, configuration.ssl_ca_cert = _data_or_file(cluster, "certificate-authority", cbase)
    configuration.tls_server_name = cluster.get("tls-server-name")
    configuration.proxy = cluster.get("proxy-url")
    configuration.cert_data, configuration.cert_file = _data_or_file(user, "client-certificate", ubase)
    configuration.key_data, configuration.key_file = _data_or_file(user, "client-key", ubase)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            with open(os.path.expanduser(user["tokenFile"])) as f:
                token = f.read().strip()
        except (IOError, OSError) as e:
            raise ConfigError("could not read tokenFile of user %s: %s" % (ctx.get("user"), e))
    if token:
        configuration.api_key = {"authorization": "Bearer %s" % token}
    elif user.get("username") and user.get("password"):
        configuration.username, configuration.password = user["username"], user["password"]
    return configuration


def load_with_plugin(kubeconfig, context, configuration):
    """Credentials of a user with an exec/auth-provider plugin, through the kubernetes library."""
    from kubernetes import client as k8s_client  # pylint: disable=import-outside-toplevel
    from kubernetes import config as k8s_config  # pylint: disable=import-outside-toplevel

    theirs = k8s_client.Configuration()
    if isinstance(kubeconfig, dict):
        k8s_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=theirs)
    else:
        k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=theirs)
    configuration.host = theirs.host
    configuration.verify_ssl = theirs.verify_ssl
    configuration.ssl_ca_cert = theirs.ssl_ca_cert
    configuration.cert_file = theirs.cert_file
    configuration.key_file = theirs.key_file
    configuration.proxy = getattr(theirs, "proxy", None)
    configuration.tls_server_name = getattr(theirs, "tls_server_name", None)
    key = (theirs.api_key or {}).get("authorization") or (theirs.api_key or {}).get("BearerToken")
    if key:
        prefix = (getattr(theirs, "api_key_prefix", None) or {}).get("authorization")
        configuration.api_key = {"authorization": "%s %s" % (prefix, key) if prefix else key}
    return configuration


def load_incluster(configuration=None, environ=None, sa_dir=SA_DIR):
    """The pod's service account: $KUBERNETES_SERVICE_HOST/PORT, its token and CA."""
    environ = os.environ if environ is None else environ
    configuration = configuration or Configuration()
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("no kubeconfig, and not in a cluster (KUBERNETES_SERVICE_HOST/PORT are not set)")
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    configuration.host = "https://%s:%s" % (host, port)
    try:
        with open(os.path.join(sa_dir, "token")) as f:
            token = f.read().strip()
    except (IOError, OSError) as e:
        raise ConfigError("could not read the service account token: %s" % e)
    if not token:
        raise ConfigError("the service account token file is empty")
    configuration.api_key = {"authorization": "Bearer %s" % token}
    ca = os.path.join(sa_dir, "ca.crt")
    if os.path.exists(ca):
        configuration.ssl_ca_cert = ca
    return configuration


# --------------------------------------------------------------------------- one request


def _ssl_context(configuration):
    cadata = configuration.ca_data.decode("ascii", "replace") if configuration.ca_data else None
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert, cadata=cadata)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = configuration.cert_file, configuration.key_file
    if configuration.cert_data or configuration.key_data:
        # ssl loads a client key from files only: write them to a private directory, load, remove.
        directory = tempfile.mkdtemp(prefix="model-serving-tls-")
        try:
            paths = []
            for data, path in ((configuration.cert_data, cert), (configuration.key_data, key)):
                if data:
                    path = os.path.join(directory, "%d.pem" % len(paths))
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                paths.append(path)
            if paths[0]:
                context.load_cert_chain(paths[0], paths[1])
        finally:
            for name in os.listdir(directory):
                os.remove(os.path.join(directory, name))
            os.rmdir(directory)
    elif cert:
        context.load_cert_chain(cert, key)
    return context


class RestClient(object):
    """A urllib3 pool to one API server; :meth:`request` sends one request (a full URL) and returns the raw
    answer."""

    def __init__(self, configuration):
        if not HAS_URLLIB3:
            raise ConfigError("the urllib3 Python library is required: %s" % URLLIB3_IMPORT_ERROR)
        self.configuration = configuration
        kwargs = dict(num_pools=4, maxsize=16, block=False, retries=False)
        if configuration.host.startswith("https"):
            kwargs["ssl_context"] = _ssl_context(configuration)
            if not configuration.verify_ssl:
                kwargs["cert_reqs"] = "CERT_NONE"
                kwargs["assert_hostname"] = False
            elif configuration.tls_server_name:
                kwargs["server_hostname"] = configuration.tls_server_name
        if configuration.proxy:
            self.pool = urllib3.ProxyManager(configuration.proxy, **kwargs)
        else:
            self.pool = urllib3.PoolManager(**kwargs)
        headers = {"Accept": JSON, "User-Agent": USER_AGENT}
        if configuration.api_key.get("authorization"):
            headers["Authorization"] = configuration.api_key["authorization"]
        elif configuration.username:
            pair = ("%s:%s" % (configuration.username, configuration.password)).encode("utf-8")
            headers["Authorization"] = "Basic %s" % base64.b64encode(pair).decode("ascii")
        self.headers = headers

    def request(self, method, url, query_params=None, headers=None, body=None, _preload_content=True,
                _request_timeout=None):
        if query_params:
            url += ("&" if "?" in url else "?") + urlencode(query_params)
        sent = dict(self.headers)
        sent.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent.setdefault("Content-Type", JSON)
        timeout = None
        if isinstance(_request_timeout, (tuple, list)):
            timeout = urllib3.Timeout(connect=_request_timeout[0], read=_request_timeout[1])
        elif _request_timeout is not None:
            timeout = urllib3.Timeout(total=_request_timeout)
        return self.pool.request(method.upper(), url, body=data, headers=sent,
                                 preload_content=_preload_content, timeout=timeout, redirect=False)


def _raise_for(response):
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)  # .data reads the body of a streamed answer too


def _decode(response):
    data = response.data
    if not data:
        return ResourceDict()
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError:
        raise ApiException(status=response.status, reason="the answer is not JSON", body=data[:500])
    return ResourceDict(value) if isinstance(value, dict) else value


# --------------------------------------------------------------------------- kinds and verbs


def api_path(api_version):
    return "/api/v1" if api_version == "v1" else "/apis/%s" % api_version


def _q(value):
    return quote(str(value), safe="")


class Resource(object):
    """One kind of one group/version: its REST path and verbs (kwargs as the kubernetes library names them)."""

    def __init__(self, client, api_version, entry):
        self.client = client
        self.api_version = api_version
        self.kind = entry.get("kind")
        self.name = entry.get("name")
        self.namespaced = bool(entry.get("namespaced"))
        self.verbs = entry.get("verbs") or []

    def path(self, name=None, namespace=None):
        out = api_path(self.api_version)
        if self.namespaced and namespace:
            out += "/namespaces/%s" % _q(namespace)
        out += "/" + self.name
        if name:
            out += "/" + _q(name)
        return out

    @staticmethod
    def _query(field_manager=None, dry_run=None, **extra):
        query = []
        if dry_run:
            query.append(("dryRun", dry_run))
        if field_manager:
            query.append(("fieldManager", field_manager))
        for key in ("label_selector", "field_selector", "resource_version", "limit", "propagation_policy"):
            if extra.get(key) not in (None, ""):
                query.append(("".join(w.capitalize() if i else w for i, w in enumerate(key.split("_"))), extra[key]))
        return query

    def get(self, name=None, namespace=None, label_selector=None, field_selector=None, **kwargs):
        query = self._query(label_selector=label_selector, field_selector=field_selector, **kwargs)
        return self.client.call("GET", self.path(name, namespace), query)

    def create(self, body, namespace=None, field_manager=None, dry_run=None):
        if self.namespaced and not namespace:
            namespace = (body.get("metadata") or {}).get("namespace")
        return self.client.call("POST", self.path(None, namespace), self._query(field_manager, dry_run), body=body)

    def patch(self, body, name=None, namespace=None, content_type=MERGE_PATCH, field_manager=None, dry_run=None):
        meta = body.get("metadata") or {} if isinstance(body, dict) else {}
        name = name or meta.get("name")
        if self.namespaced and not namespace:
            namespace = meta.get("namespace")
        return self.client.call("PATCH", self.path(name, namespace), self._query(field_manager, dry_run), body=body,
                                content_type=content_type)

    def delete(self, name=None, namespace=None, body=None, dry_run=None, propagation_policy=None):
        query = self._query(dry_run=dry_run, propagation_policy=propagation_policy)
        return self.client.call("DELETE", self.path(name, namespace), query, body=body)


class Watch(object):
    """Handle of one watch: :meth:`stop` closes its connection."""

    def __init__(self):
        self.response = None
        self.stopped = False

    def stop(self):
        self.stopped = True
        response, self.response = self.response, None
        if response is not None:
            try:
                response.close()  # the rest of the stream is not read: the connection is not reused
            except Exception:  # pylint: disable=broad-except
                pass


def _watch_events(response, watcher):
    pending = b""
    for chunk in response.stream(None, decode_content=False):
        if watcher.stopped:
            return
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.strip():
                yield json.loads(line.decode("utf-8"))
    if pending.strip() and not watcher.stopped:
        yield json.loads(pending.decode("utf-8"))


class DynamicClient(object):
    """Discovery, one request per group/version, and the calls of :class:`Resource`."""

    def __init__(self, rest, cache_file=None):
        self.rest = rest
        self.resources = Discovery(self, cache_file)

    def call(self, method, path, query=None, body=None, content_type=None, preload=True, timeout=None):
        headers = {"Content-Type": content_type} if content_type else None
        # the full URL: the retry layer names it when the server does not answer
        response = self.rest.request(method, self.rest.configuration.host + path, query_params=query or None,
                                     headers=headers, body=body, _preload_content=preload, _request_timeout=timeout)
        _raise_for(response)
        return _decode(response) if preload else response

    def request(self, method, path, body=None, _request_timeout=None, **_ignored):
        """One request to ``path`` (discovery documents, subresources); the decoded answer."""
        return self.call(method.upper(), path, body=body, timeout=_request_timeout)

    def watch(self, resource, namespace=None, name=None, label_selector=None, field_selector=None,
              resource_version=None, timeout=None, watcher=None):
        """Events ``{"type", "object", "raw_object"}`` of a watch that the server ends after ``timeout``
        seconds; an expired resourceVersion raises ApiException 410."""
        watcher = watcher or Watch()
        if name:
            field_selector = ",".join(s for s in ("metadata.name=%s" % name, field_selector) if s)
        query = [("watch", "true"), ("allowWatchBookmarks", "true")]
        query += Resource._query(label_selector=label_selector, field_selector=field_selector,
                                 resource_version=resource_version)
        if timeout:
            query.append(("timeoutSeconds", int(timeout)))
        response = self.call("GET", resource.path(None, namespace), query, preload=False)
        watcher.response = response
        try:
            for event in _watch_events(response, watcher):
                obj = event.get("object") or {}
                if event.get("type") == "ERROR" and obj.get("code") == 410:
                    raise ApiException(status=410, reason=obj.get("message") or "Expired")
                yield {"type": event.get("type"), "object": obj, "raw_object": obj}
        finally:
            watcher.stop()


class Discovery(object):
    """Kinds by group/version, read from the server on first use and kept in ``cache_file`` (JSON,
    written atomically) for the next module run; a miss re-reads after :meth:`invalidate_cache`."""

    VERSION = 1

    def __init__(self, client, cache_file=None):
        self.client = client
        self.cache_file = cache_file if cache_file and cache_file != os.devnull else None
        self._groups = None
        self._fresh = set()  # group/versions read from the server by this process
        self._dropped = set()  # and found not served

    def _load(self):
        if self._groups is None:
            self._groups = {}
            if self.cache_file:
                try:
                    with open(self.cache_file) as f:
                        data = json.load(f)
                    if isinstance(data, dict) and data.get("version") == self.VERSION:
                        self._groups = dict((k, v) for k, v in (data.get("groups") or {}).items() if isinstance(v, list))
                except (IOError, OSError, ValueError):
                    pass
        return self._groups

    def _save(self):
        if not self.cache_file:
            return
        groups = {}
        try:
            with open(self.cache_file) as f:
                data = json.load(f)
            if isinstance(data, dict) and data.get("version") == self.VERSION:
                groups = dict(data.get("groups") or {})
        except (IOError, OSError, ValueError):
            pass
        for gv in self._fresh:
            if gv in self._dropped:
                groups.pop(gv, None)
            elif gv in self._groups:
                groups[gv] = self._groups[gv]
        tmp = "%s.%d.tmp" % (self.cache_file, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"version": self.VERSION, "groups": groups}, f)
            os.replace(tmp, self.cache_file)
        except (IOError, OSError):
            try:
                os.remove(tmp)
            except OSError:
                pass

    def _fetch(self, api_version):
        try:
            data = self.client.call("GET", api_path(api_version), timeout=(10, 30))
        except ApiException as e:
            if e.status in (404, 503):  # not served (a CRD not installed, an aggregated API down)
                return None
            raise
        return [dict((k, r.get(k)) for k in ("name", "kind", "namespaced", "verbs"))
                for r in data.get("resources") or [] if isinstance(r, dict)]

    def get(self, api_version=None, kind=None, **_ignored):
        groups = self._load()
        if api_version not in groups and api_version not in self._fresh:
            entries = self._fetch(api_version)
            self._fresh.add(api_version)
            if entries is None:
                self._dropped.add(api_version)
            else:
                self._dropped.discard(api_version)
                groups[api_version] = entries
            self._save()
        matches = [e for e in groups.get(api_version) or []
                   if e.get("kind") == kind and "/" not in (e.get("name") or "")]
        if not matches:
            raise ResourceNotFoundError("%s %s" % (api_version, kind))
        if len(matches) > 1:
            raise ResourceNotUniqueError("%s %s" % (api_version, kind))
        return Resource(self.client, api_version, matches[0])

    def invalidate_cache(self):
        """Forget what is known: the next lookup of each group/version asks the server again."""
        self._groups = {}
        self._fresh = set()
        self._dropped = set()
