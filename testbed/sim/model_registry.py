"""Simulated model-registry operator, backed by a real MySQL-compatible database, and the registry's REST API.

Per ModelRegistry (``modelregistry.opendatahub.io`` v1alpha1 or v1beta1; the CRD stores v1alpha1 and serves both)
once ``model-registry-operator-controller-manager`` is ready, as the operator does (operator-api.md §10.2):
ServiceAccount, Deployment ``<name>`` (``grpc-container``, ``rest-container``; ``oauth-proxy`` with
``spec.oauthProxy``; the mesh sidecar with ``spec.istio``), Service ``<name>``, Role ``registry-user-<name>``
(get services/endpoints ``<name>``), Group ``<name>-users`` (created empty, its members never touched) and
RoleBinding ``<name>-users``; with ``oauthProxy`` a reencrypt Route ``<name>-https`` for ``<name>-rest.<domain>``.

The database: the simulator connects, as the registry's containers would, with ``spec.mysql`` ``host``/``port``/
``username``/``database``, the password from ``passwordSecret{name, key}`` and, when given, the CA of
``sslRootCertificateConfigMap``/``sslRootCertificateSecret`` ``{name, key}`` (or every key of
``sslRootCertificatesConfigMapName``/``sslRootCertificatesSecretName``); without a CA it connects without TLS (a
server that requires TLS refuses that). It creates the database unless ``skipDBCreation`` and its schema
(tables ``MLMDEnv``, ``Type``, ``Context``, ``ContextProperty``; registered models are Contexts of type
``kf.RegisteredModel``). A connection error is the database's own text in ``Available=False``/
``DeploymentUnavailable`` ("... container grpc-container: CrashLoopBackOff: ... <error>"); pods are not made to crash.

Host names: the simulator runs on the host, outside the cluster. A ``host`` that names a Service (bare name = in the
registry's namespace, ``<svc>.<ns>[.svc[.cluster.local]]``) is reached at the address in that Service's annotation
``testbed.openshift-ai.io/address`` (``127.0.0.1:<port>``) when ``port`` is one of the Service's ports; without the
Service the error is MySQL's "Unknown MySQL server host"; any other host is connected to as it is.

REST API: HTTPS on ``127.0.0.1:<free port>``, recorded in ConfigMap ``testbed-system/testbed-model-registry``
(``https-address``, ``https-port``, ``ca.crt``; certificate for ``*.<ingress domain>``), routed by ``Host``
``<name>-rest.<domain>`` (or ``<name>.<ns>.svc[.cluster.local]``): ``GET``/``POST``
``/api/model_registry/v1alpha3/registered_models``, ``GET .../registered_models/<id>``. Token checks as the
oauth-proxy / kube-rbac-proxy in front of the registry: ``Authorization: Bearer`` -> TokenReview, the user's
groups plus the OpenShift Groups that list the user (as OpenShift's authenticator adds them) ->
SubjectAccessReview ``get`` ``services`` ``<name>`` in the registry's namespace. 401 without/with a bad token,
403 without the permission, 503 while the registry is not Available.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import ssl
import threading
import time
from typing import Optional

from . import resources as R
from .ingress import _b64, _fallback_material, _Server, ADDRESS, NAMESPACE
from .kserve import apps_ns
from .kube import ApiError
from .rhoai import ingress_domain
from .runtime import Controller
from .util import cond, container, deployment, deployment_ready, dig, meta, service

log = logging.getLogger("sim.modelregistry")

OPERATOR = "model-registry-operator"
CONFIGMAP = "testbed-model-registry"
ADDRESS_ANNOTATION = "testbed.openshift-ai.io/address"
API_PREFIX = "/api/model_registry/v1alpha3"
RECHECK_SECONDS = 30.0
SCHEMA_VERSION = 10
REGISTERED_MODEL = "kf.RegisteredModel"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS `MLMDEnv` (`schema_version` INT NOT NULL, PRIMARY KEY (`schema_version`))",
    "CREATE TABLE IF NOT EXISTS `Type` (`id` INT NOT NULL AUTO_INCREMENT, `name` VARCHAR(255) NOT NULL, "
    "`version` VARCHAR(255), `type_kind` TINYINT(1) NOT NULL, `description` TEXT, PRIMARY KEY (`id`), "
    "UNIQUE KEY `uniq_type_name` (`name`, `type_kind`))",
    "CREATE TABLE IF NOT EXISTS `Context` (`id` INT NOT NULL AUTO_INCREMENT, `type_id` INT NOT NULL, "
    "`name` VARCHAR(255) NOT NULL, `external_id` VARCHAR(255), `create_time_since_epoch` BIGINT NOT NULL DEFAULT 0, "
    "`last_update_time_since_epoch` BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (`id`), "
    "UNIQUE KEY `uniq_context_type_name` (`type_id`, `name`))",
    "CREATE TABLE IF NOT EXISTS `ContextProperty` (`context_id` INT NOT NULL, `name` VARCHAR(255) NOT NULL, "
    "`is_custom_property` TINYINT(1) NOT NULL, `string_value` MEDIUMTEXT, "
    "PRIMARY KEY (`context_id`, `name`, `is_custom_property`))",
)


class DBError(Exception):
    """A connection/setup failure, with the database client's own message."""


def labels_for(name: str) -> dict:
    return {"app": name, "component": "model-registry", "app.kubernetes.io/name": name,
            "app.kubernetes.io/instance": name, "app.kubernetes.io/component": "model-registry",
            "app.kubernetes.io/created-by": OPERATOR, "app.kubernetes.io/part-of": OPERATOR,
            "app.kubernetes.io/managed-by": OPERATOR}


# -- database ----------------------------------------------------------------------------------
def _secret_value(kube, name: str, ns: str, key: Optional[str]) -> list:
    sec = kube.get(R.SECRET, name, ns)
    if sec is None:
        raise DBError(f'secret "{name}" not found in namespace {ns}')
    data = sec.get("data") or {}
    keys = [key] if key else sorted(data)
    out = []
    for k in keys:
        v = _b64(data, k)
        if v is None:
            raise DBError(f'key "{k}" not found in secret {ns}/{name}')
        out.append(v.decode())
    return out


def _configmap_value(mgr, name: str, ns: str, key: Optional[str]) -> list:
    cm = mgr.kube.get(R.CONFIGMAP, name, ns)
    if cm is None:
        raise DBError(f'configmap "{name}" not found in namespace {ns}')
    data = cm.get("data") or {}
    keys = [key] if key else sorted(data)
    missing = [k for k in keys if not data.get(k)]
    if missing:
        raise DBError(f'key "{missing[0]}" not found in configmap {ns}/{name}')
    return [data[k] for k in keys]


def _resolve(mgr, host: str, port: int, ns: str) -> tuple:
    """(address to connect to, port) for the registry's ``host``; DBError like the client's when unknown."""
    parts = host.lower().split(".")
    svc_ns = None
    if len(parts) == 1:
        svc_ns = ns
    elif len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc" and
                             (len(parts) == 3 or ".".join(parts[3:]) == "cluster.local")):
        svc_ns = parts[1]
    if svc_ns is None or re.match(r"^\d+\.\d+\.\d+\.\d+$", host) or host == "localhost":
        return host, port
    svc = mgr.get(R.SERVICE, parts[0], svc_ns)
    if svc is None:
        if len(parts) == 2 and mgr.get(R.NAMESPACE, svc_ns) is None:
            return host, port  # an outside name such as db.example: connect as it is
        raise DBError(f"(2005, \"Unknown MySQL server host '{host}' (-2)\")")
    addr = (svc["metadata"].get("annotations") or {}).get(ADDRESS_ANNOTATION)
    ports = [p.get("port") for p in dig(svc, "spec", "ports", default=[]) or []]
    if not addr or port not in ports:
        raise DBError(f"(2003, \"Can't connect to MySQL server on '{host}' ([Errno 111] Connection refused)\")")
    a_host, _, a_port = addr.rpartition(":")
    return a_host, int(a_port)


def db_params(mgr, mr: dict) -> dict:
    """Connection parameters from the CR (password and CA read from the cluster)."""
    ns = mr["metadata"]["namespace"]
    my = dig(mr, "spec", "mysql")
    if not my:
        raise DBError("no database configured: spec.mysql is missing")
    for f in ("host", "username", "database"):
        if not my.get(f):
            raise DBError(f"spec.mysql.{f} is required")
    port = int(my.get("port") or 3306)
    password = ""
    ps = my.get("passwordSecret") or {}
    if ps.get("name"):
        password = _secret_value(mgr.kube, ps["name"], ns, ps.get("key") or "database-password")[0]
    cas = []
    ref = my.get("sslRootCertificateConfigMap") or {}
    if ref.get("name"):
        cas += _configmap_value(mgr, ref["name"], ns, ref.get("key") or "ca.crt")
    if my.get("sslRootCertificatesConfigMapName"):
        cas += _configmap_value(mgr, my["sslRootCertificatesConfigMapName"], ns, None)
    ref = my.get("sslRootCertificateSecret") or {}
    if ref.get("name"):
        cas += _secret_value(mgr.kube, ref["name"], ns, ref.get("key") or "ca.crt")
    if my.get("sslRootCertificatesSecretName"):
        cas += _secret_value(mgr.kube, my["sslRootCertificatesSecretName"], ns, None)
    address, aport = _resolve(mgr, my["host"], port, ns)
    return {"host": my["host"], "address": address, "port": aport, "user": my["username"], "password": password,
            "database": my["database"], "ca": "\n".join(cas) if cas else None,
            "verify": my.get("verifyServerCert", True) is not False, "create": not my.get("skipDBCreation")}


def _digest(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def connect(params: dict, database: bool = True):
    try:
        import pymysql
    except ImportError as e:  # pragma: no cover - requirements-test.txt brings it
        raise DBError(f"the simulator needs PyMySQL: {e}")
    kw = {"host": params["address"], "port": params["port"], "user": params["user"], "password": params["password"],
          "connect_timeout": 5, "read_timeout": 10, "write_timeout": 10, "autocommit": True, "charset": "utf8mb4"}
    if database:
        kw["database"] = params["database"]
    if params.get("ca"):
        ctx = ssl.create_default_context(cadata=params["ca"])
        if not params.get("verify", True):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        kw["ssl"] = ctx
    else:
        kw["ssl_disabled"] = True
    try:
        return pymysql.connect(**kw)
    except pymysql.MySQLError as e:
        msg = str(e)
        if params["address"] != params["host"]:
            msg = msg.replace(f"'{params['address']}'", f"'{params['host']}'")
        raise DBError(msg)
    except ssl.SSLError as e:
        raise DBError(f"TLS: {e}")


def ensure_schema(params: dict) -> None:
    import pymysql

    try:
        conn = connect(params)
    except DBError as e:
        if "(1049," not in str(e) or not params.get("create"):  # 1049: unknown database
            raise
        conn = connect(params, database=False)
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS `%s`" % params["database"].replace("`", ""))
        except pymysql.MySQLError as e2:
            raise DBError(str(e2))
        finally:
            conn.close()
        conn = connect(params)
    try:
        with conn.cursor() as cur:
            for stmt in SCHEMA:
                cur.execute(stmt)
            cur.execute("INSERT IGNORE INTO `MLMDEnv` (`schema_version`) VALUES (%s)", (SCHEMA_VERSION,))
            for tname, kind in ((REGISTERED_MODEL, 2), ("kf.ModelVersion", 2), ("kf.ModelArtifact", 1)):
                cur.execute("INSERT IGNORE INTO `Type` (`name`, `type_kind`) VALUES (%s, %s)", (tname, kind))
    except pymysql.MySQLError as e:
        raise DBError(str(e))
    finally:
        conn.close()


def _model_json(row: dict, props: dict) -> dict:
    out = {"id": str(row["id"]), "name": row["name"], "externalId": row.get("external_id") or None,
           "createTimeSinceEpoch": str(row["create_time_since_epoch"]),
           "lastUpdateTimeSinceEpoch": str(row["last_update_time_since_epoch"]),
           "description": props.get("description"), "owner": props.get("owner"),
           "state": props.get("state") or "LIVE", "customProperties": {}}
    return {k: v for k, v in out.items() if v is not None}


def list_models(params: dict, model_id: Optional[str] = None) -> list:
    import pymysql.cursors

    conn = connect(params)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            sql = ("SELECT c.* FROM `Context` c JOIN `Type` t ON c.type_id = t.id WHERE t.name = %s")
            args = [REGISTERED_MODEL]
            if model_id is not None:
                sql += " AND c.id = %s"
                args.append(model_id)
            cur.execute(sql + " ORDER BY c.id", args)
            rows = cur.fetchall()
            out = []
            for row in rows:
                cur.execute("SELECT `name`, `string_value` FROM `ContextProperty` WHERE `context_id` = %s "
                            "AND `is_custom_property` = 0", (row["id"],))
                props = {p["name"]: p["string_value"] for p in cur.fetchall()}
                out.append(_model_json(row, props))
            return out
    finally:
        conn.close()


def register_model(params: dict, body: dict) -> tuple:
    """(HTTP status, JSON body)."""
    import pymysql

    name = body.get("name")
    if not isinstance(name, str) or not name:
        return 400, {"code": "Bad Request", "message": "invalid request: name is required"}
    now_ms = int(time.time() * 1000)
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT `id` FROM `Type` WHERE `name` = %s", (REGISTERED_MODEL,))
            type_id = cur.fetchone()[0]
            try:
                cur.execute("INSERT INTO `Context` (`type_id`, `name`, `external_id`, `create_time_since_epoch`, "
                            "`last_update_time_since_epoch`) VALUES (%s, %s, %s, %s, %s)",
                            (type_id, name, body.get("externalId"), now_ms, now_ms))
            except pymysql.err.IntegrityError:
                return 409, {"code": "Conflict", "message": f"a registered model named {name!r} already exists"}
            cid = cur.lastrowid
            for prop in ("description", "owner", "state"):
                if body.get(prop) is not None:
                    cur.execute("INSERT INTO `ContextProperty` (`context_id`, `name`, `is_custom_property`, "
                                "`string_value`) VALUES (%s, %s, 0, %s)", (cid, prop, str(body[prop])))
    finally:
        conn.close()
    return 201, list_models(params, str(cid))[0]


# -- controller ----------------------------------------------------------------------------------
class ModelRegistryController(Controller):
    name = "modelregistry"
    primary = R.MODELREGISTRY
    owns = (R.DEPLOYMENT,)

    def __init__(self, mgr):
        super().__init__(mgr)
        self.checked: dict = {}  # (ns, name) -> (params digest, time of the last good check)
        self.params: dict = {}  # (ns, name) -> connection parameters (for the REST API)
        self.api = RestAPI(mgr, self)
        try:
            self.api.start()
        except (OSError, ImportError) as e:
            log.warning("the model registry REST API did not start: %s", e)

    def check_db(self, mr: dict) -> Optional[str]:
        """None when the database is reachable and has the schema, else the error."""
        key = (mr["metadata"]["namespace"], mr["metadata"]["name"])
        try:
            params = db_params(self.mgr, mr)
        except DBError as e:
            self.checked.pop(key, None)
            return str(e)
        digest = _digest(params)
        last = self.checked.get(key)
        if last and last[0] == digest and time.monotonic() - last[1] < RECHECK_SECONDS:
            self.params[key] = params
            return None
        try:
            ensure_schema(params)
        except DBError as e:
            self.checked.pop(key, None)
            self.params.pop(key, None)
            return str(e)
        self.checked[key] = (digest, time.monotonic())
        self.params[key] = params
        return None

    def reconcile(self, ns, name):
        mr = self.mgr.get(R.MODELREGISTRY, name, ns)
        if mr is None or mr["metadata"].get("deletionTimestamp"):
            return None
        if not deployment_ready(self.mgr.get(R.DEPLOYMENT, "model-registry-operator-controller-manager",
                                             apps_ns(self.mgr))):
            return 5.0
        spec = mr.get("spec") or {}
        oc = (mr.get("status") or {}).get("conditions")
        labels = labels_for(name)
        istio = spec.get("istio") is not None
        oauth = spec.get("oauthProxy") is not None or spec.get("kubeRBACProxy") is not None
        pod_labels = dict(labels)
        pod_ann = {}
        if istio:
            pod_labels["sidecar.istio.io/inject"] = "true"
        db_port = dig(spec, "mysql", "port") or dig(spec, "postgres", "port")
        if db_port:
            pod_ann["traffic.sidecar.istio.io/excludeOutboundPorts"] = str(db_port)
        grpc_port = dig(spec, "grpc", "port") or 9090
        rest_port = dig(spec, "rest", "port") or 8080
        self.mgr.apply(R.SERVICEACCOUNT, {"metadata": meta(name, ns, labels, owner=mr)}, OPERATOR)
        containers = [container("grpc-container", "registry.redhat.io/rhoai/odh-mlmd-grpc-server-rhel8:v2.19",
                                [("grpc-api", grpc_port)]),
                      container("rest-container", "registry.redhat.io/rhoai/odh-model-registry-rhel8:v2.19",
                                [("http-api", rest_port)])]
        svc_ports = [("grpc-api", grpc_port), ("http-api", rest_port)]
        if oauth:
            containers.append(container("oauth-proxy", "registry.redhat.io/openshift4/ose-oauth-proxy-rhel9:v4.14",
                                        [("https-api", 8443)]))
            svc_ports.append(("https-api", 8443))
        dep = deployment(self.mgr, name, ns, pod_labels, containers, labels=labels,
                         selector={"app": name, "component": "model-registry"},
                         pod_annotations=pod_ann or None, owner=mr, service_account=name)
        self.mgr.apply(R.DEPLOYMENT, dep, OPERATOR)
        domain = ingress_domain(self.mgr)
        hosts = [f"{name}.{ns}.svc.cluster.local", name, f"{name}.{ns}", f"{name}.{ns}.svc"]
        svc_ann = {}
        if istio:
            svc_ann = {"routing.opendatahub.io/external-address-rest": f"{name}-rest.{domain}:443",
                       "routing.opendatahub.io/external-address-grpc": f"{name}-grpc.{domain}:443"}
        if istio or oauth:
            hosts = [f"{name}-rest.{domain}"] + hosts
        self.mgr.apply(R.SERVICE, service(name, ns, {"app": name, "component": "model-registry"}, svc_ports,
                                          labels=labels, owner=mr, annotations=svc_ann or None), OPERATOR)
        if oauth and self.mgr.informer(R.ROUTE).served:
            self.mgr.apply(R.ROUTE, {"metadata": meta(f"{name}-https", ns, labels, owner=mr), "spec": {
                "host": f"{name}-rest.{domain}", "to": {"kind": "Service", "name": name, "weight": 100},
                "port": {"targetPort": "https-api"}, "tls": {"termination": "reencrypt"}}}, OPERATOR)
        self.mgr.apply(R.ROLE, {"metadata": meta(f"registry-user-{name}", ns, labels, owner=mr), "rules": [
            {"apiGroups": [""], "resources": ["services"], "resourceNames": [name], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["endpoints"], "resourceNames": [name], "verbs": ["get"]}]}, OPERATOR)
        if self.mgr.get(R.GROUP, f"{name}-users") is None:
            self.mgr.create_if_missing(R.GROUP, {"metadata": {"name": f"{name}-users", "labels": labels},
                                                 "users": []})
        self.mgr.apply(R.ROLEBINDING, {"metadata": meta(f"{name}-users", ns, labels, owner=mr),
                                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                   "name": f"registry-user-{name}"},
                                       "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                                     "name": f"{name}-users"}]}, OPERATOR)
        db_error = self.check_db(mr) if dig(spec, "mysql") else None
        ready = deployment_ready(self.mgr.get(R.DEPLOYMENT, name, ns))
        pods = self.mgr.informer(R.POD).items(namespace=ns, selector={"app": name, "component": "model-registry"})
        conds = [cond(oc, "Progressing", "True", "CreatedDeployment",
                      "Deployment for model registry was successfully created")]
        if istio:
            conds.append(cond(oc, "IstioAvailable", "True" if ready else "False",
                              "ResourcesAvailable" if ready else "ResourcesUnavailable",
                              "Istio resources are available" if ready else "Istio resources are not available"))
            conds.append(cond(oc, "GatewayAvailable", "True", "ResourcesAvailable",
                              "Istio Gateway resources are available"))
        if oauth:
            conds.append(cond(oc, "OAuthProxyAvailable", "True", "ResourcesAvailable",
                              "OAuth Proxy resources are available"))
        if db_error:
            pod = pods[0]["metadata"]["name"] if pods else name
            conds.append(cond(oc, "Available", "False", "DeploymentUnavailable",
                              f"Deployment is unavailable: pod {pod} has unready containers [grpc-container], "
                              f"container grpc-container: CrashLoopBackOff: database connection failed: {db_error}"))
        elif ready:
            conds.append(cond(oc, "Available", "True", "DeploymentAvailable", "Deployment is available"))
        else:
            bad = []
            for p in pods:
                for cs in dig(p, "status", "containerStatuses", default=[]) or []:
                    w = dig(cs, "state", "waiting")
                    if w:
                        bad.append(f"pod {p['metadata']['name']}: container {cs.get('name')}: {w.get('reason')}")
            conds.append(cond(oc, "Available", "False", "DeploymentUnavailable",
                              "Deployment is unavailable: " + ("; ".join(bad) if bad else "waiting for pods")))
        conds.append(cond(oc, "Degraded", "False", "", ""))
        status = {"conditions": conds, "hosts": hosts, "hostsStr": ",".join(hosts), "specDefaults": "{}"}
        self.mgr.set_status(R.MODELREGISTRY, mr, status)
        return 2.0 if (db_error or not ready) else None

    def on_deleted(self, obj):
        name, ns = obj["metadata"]["name"], obj["metadata"]["namespace"]
        self.checked.pop((ns, name), None)
        self.params.pop((ns, name), None)
        try:
            self.mgr.delete(R.GROUP, f"{name}-users")
        except Exception:  # noqa: BLE001
            pass


# -- REST API ------------------------------------------------------------------------------------
class RestAPI:
    """The registries' REST API behind the token-checking proxy; served through the ingress module's
    HTTP server class (this object plays its ``ingress``: ``base_ctx`` and ``serve``)."""

    def __init__(self, mgr, ctrl: ModelRegistryController):
        self.mgr = mgr
        self.kube = mgr.kube
        self.ctrl = ctrl
        self.stop_event = threading.Event()
        self.server = None
        self.port = 0
        self.ca = b""

    def start(self) -> "RestAPI":
        import os
        import tempfile

        ca, crt, key = _fallback_material(ingress_domain(self.mgr))
        self.ca = ca
        tmp = tempfile.mkdtemp(prefix="sim-mr-")
        try:
            for fname, data in (("tls.crt", crt + ca), ("tls.key", key)):
                with open(os.open(os.path.join(tmp, fname), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                    f.write(data)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.load_cert_chain(os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key"))
        finally:
            for fname in ("tls.crt", "tls.key"):
                try:
                    os.unlink(os.path.join(tmp, fname))
                except OSError:
                    pass
            os.rmdir(tmp)
        self.base_ctx = ctx
        from .ingress import _Handler

        self.server = _Server((ADDRESS, 0), _Handler, self, tls=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5}, name="model-registry-api",
                         daemon=True).start()
        threading.Thread(target=self._record_loop, name="model-registry-record", daemon=True).start()
        log.info("model registry REST API: https://%s:%d", ADDRESS, self.port)
        return self

    def _record_loop(self):
        wait = 1.0
        while not self.stop_event.wait(wait):
            if not self.mgr._started:
                continue
            try:
                want = {"address": ADDRESS, "https-port": str(self.port), "https-address": f"{ADDRESS}:{self.port}",
                        "ca.crt": self.ca.decode(), "path": API_PREFIX + "/registered_models"}
                cur = self.mgr.get(R.CONFIGMAP, CONFIGMAP, NAMESPACE)
                if cur is None or (cur.get("data") or {}) != want:
                    self.mgr.ensure_namespace(NAMESPACE)
                    self.mgr.apply(R.CONFIGMAP, {"metadata": {"name": CONFIGMAP, "namespace": NAMESPACE,
                                                              "labels": {"app.kubernetes.io/part-of": "testbed"}},
                                                 "data": want}, "testbed-model-registry")
                wait = 10.0
            except Exception as e:  # noqa: BLE001
                log.warning("recording %s/%s: %s", NAMESPACE, CONFIGMAP, e)
                wait = 2.0

    def registry_for(self, host: str) -> Optional[dict]:
        regs = self.mgr.informer(R.MODELREGISTRY)
        if not regs.served:
            return None
        domain = ingress_domain(self.mgr)
        for mr in regs.items():
            name, ns = mr["metadata"]["name"], mr["metadata"]["namespace"]
            if host in (f"{name}-rest.{domain}", f"{name}.{ns}.svc.cluster.local", f"{name}.{ns}.svc"):
                return mr
        return None

    def authorize(self, mr: dict, authorization: Optional[str]) -> Optional[tuple]:
        """None when allowed, else (status, reason). The token never leaves this function."""
        token = None
        if authorization and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        if not token:
            return 401, "Unauthorized"
        try:
            tr = self.kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body={
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        except ApiError as e:
            log.warning("TokenReview: HTTP %s", e.status)
            return 401, "Unauthorized"
        if not dig(tr, "status", "authenticated"):
            return 401, "Unauthorized"
        user = dig(tr, "status", "user", "username")
        groups = list(dig(tr, "status", "user", "groups", default=[]) or [])
        for g in self.mgr.informer(R.GROUP).items():
            if user in (g.get("users") or []) and g["metadata"]["name"] not in groups:
                groups.append(g["metadata"]["name"])
        md = mr["metadata"]
        try:
            sar = self.kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body={
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": groups, "resourceAttributes": {
                    "verb": "get", "group": "", "resource": "services", "name": md["name"],
                    "namespace": md["namespace"]}}})
        except ApiError as e:
            log.warning("SubjectAccessReview: HTTP %s", e.status)
            return 403, "Forbidden"
        if not dig(sar, "status", "allowed"):
            return 403, "Forbidden"
        return None

    def serve(self, tls: bool, host: str, method: str, path: str, headers, body: bytes) -> tuple:
        mr = self.registry_for(host)
        if mr is None:
            return (503, "text/html", b"<html><body><h1>Application is not available</h1></body></html>\n", {})
        denied = self.authorize(mr, headers.get("Authorization"))
        if denied:
            status, reason = denied
            return status, "text/plain", reason.encode() + b"\n", {}
        available = any(c.get("type") == "Available" and c.get("status") == "True"
                        for c in dig(mr, "status", "conditions", default=[]) or [])
        params = self.ctrl.params.get((mr["metadata"]["namespace"], mr["metadata"]["name"]))
        if not available or params is None:
            return 503, "text/plain", b"no healthy upstream", {}
        bare = path.split("?", 1)[0].rstrip("/")
        base = API_PREFIX + "/registered_models"
        try:
            if bare == base and method == "GET":
                items = list_models(params)
                return _json(200, {"items": items, "nextPageToken": "", "pageSize": len(items), "size": len(items)})
            if bare == base and method == "POST":
                try:
                    req = json.loads(body or b"{}")
                except ValueError:
                    return _json(400, {"code": "Bad Request", "message": "invalid JSON body"})
                return _json(*register_model(params, req if isinstance(req, dict) else {}))
            if bare.startswith(base + "/") and method == "GET":
                found = list_models(params, bare[len(base) + 1:])
                if not found:
                    return _json(404, {"code": "Not Found", "message": "no registered model found"})
                return _json(200, found[0])
        except DBError as e:
            return _json(500, {"code": "Internal Server Error", "message": str(e)})
        return _json(404, {"code": "Not Found", "message": f"{method} {bare} not found"})


def _json(status: int, obj) -> tuple:
    return status, "application/json", json.dumps(obj).encode(), {}


CONTROLLERS = [ModelRegistryController]
