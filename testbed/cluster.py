"""Start, check and stop one testbed: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok on free loopback ports, plus the OpenShift API surface.

State lives in one directory (default ``<repo>/.testbed``)::

    state.json        ports, pids (with start times), options; "ready": true once up
    kubeconfig        admin kubeconfig (system:masters)
    pki/              CA, serving/client certs, service-account keys (keys 0600)
    etcd/             etcd data
    kwok-stages.yaml  kwok Stage configuration (generated, testbed/stages.py)
    logs/*.log        one log per process

Only processes recorded in state.json, whose /proc start time and command line still match,
are ever signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from . import pki as _pki
from . import stages as _stages
from . import openshift as _openshift

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO / ".testbed"
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
GPU_LABEL = "testbed.openshift-ai.io/gpu"
GPU_COUNT_ANNOTATION = "testbed.openshift-ai.io/gpu-count"
WORKER_LABEL = "node-role.kubernetes.io/worker"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.128.0.0/14"  # OpenShift's default cluster network
PLATFORMS = ("AWS", "ROSA", "None")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class TestbedError(RuntimeError):
    __test__ = False


def bin_dir() -> Path:
    return Path(os.environ.get("TESTBED_BIN", REPO / ".testbed" / "bin"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ processes

def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22 (starttime); the command name in field 2 may contain spaces
    rest = stat.rsplit(")", 1)[1].split()
    if rest[0] == "Z":  # zombie: it has exited
        return None
    return rest[19]


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_ours(rec: dict, marker: str) -> bool:
    pid = rec.get("pid")
    if not pid:
        return False
    st = _proc_start_time(pid)
    return st is not None and st == rec.get("start") and marker in _proc_cmdline(pid)


# ------------------------------------------------------------------ API access

class Api:
    """Minimal HTTPS client for the bootstrap steps (the tests use the kubernetes client)."""

    def __init__(self, server: str, pki: dict[str, Path]):
        self.server = server
        self.ctx = ssl.create_default_context(cafile=str(pki["ca_crt"]))
        self.ctx.load_cert_chain(str(pki["admin_crt"]), str(pki["admin_key"]))

    def request(self, method: str, path: str, body=None, ctype="application/json", timeout=10.0):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.server + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            return status, {"raw": raw.decode(errors="replace")}

    def get(self, path, timeout=10.0):
        return self.request("GET", path, timeout=timeout)

    def apply(self, path: str, obj: dict, subresource: str | None = None):
        """Server-side apply of ``obj`` at ``path`` (the object's URL)."""
        url = path + (f"/{subresource}" if subresource else "") + "?fieldManager=testbed&force=true"
        status, out = self.request("PATCH", url, obj, ctype="application/apply-patch+yaml")
        if status >= 300:
            raise TestbedError(f"apply {url} failed: {status} {out.get('message', out)}")
        return out


# ------------------------------------------------------------------ testbed

class Testbed:
    """One control plane + simulated nodes, kept in ``state_dir``."""

    __test__ = False  # not a pytest test class

    def __init__(self, state_dir=None, workers: int = 3, gpu_nodes: int = 1, platform: str = "AWS",
                 sim: bool = True, cluster_name: str | None = None, base_domain: str | None = None,
                 gpu_count: int = 1, openshift_version: str = "4.16.20"):
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")
        if gpu_nodes > workers:
            raise ValueError("gpu_nodes cannot exceed workers")
        self.state_dir = Path(state_dir or DEFAULT_STATE_DIR).resolve()
        self.workers = workers
        self.gpu_nodes = gpu_nodes
        self.platform = platform
        self.sim = sim
        self.cluster_name = cluster_name or ("rosa-testbed" if platform == "ROSA" else "testbed")
        self.base_domain = base_domain or _openshift.default_base_domain(platform)
        self.gpu_count = gpu_count
        self.openshift_version = openshift_version
        self._procs: dict[str, subprocess.Popen] = {}

    # paths
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def ingress_domain(self) -> str:
        return f"apps.{self.cluster_name}.{self.base_domain}"

    def __repr__(self):
        return f"Testbed({str(self.state_dir)!r})"

    # state file
    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def _write_state(self, st: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=2, sort_keys=True))
        os.replace(tmp, self.state_file)

    @contextlib.contextmanager
    def _lock(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @property
    def server(self) -> str | None:
        st = self._read_state()
        return st and st.get("server")

    def _marker(self) -> str:
        return str(self.state_dir)

    def _live(self, st: dict) -> dict[str, bool]:
        return {n: _is_ours(r, self._marker()) for n, r in st.get("processes", {}).items()}

    def is_up(self) -> bool:
        """True when this state dir holds a ready testbed whose control-plane processes all
        run and whose API server answers /readyz (the simulated operators are not part of
        this check; ``up`` restarts them if they died)."""
        st = self._read_state()
        if not st or not st.get("ready"):
            return False
        live = self._live(st)
        if not all(live.get(c, False) for c in COMPONENTS):
            return False
        # the processes run: give a busy API server a few chances before calling it down
        for attempt in range(3):
            try:
                api = Api(st["server"], _pki.paths(self.pki_dir))
                status, _ = api.request("GET", "/readyz", timeout=5)
                if status == 200:
                    return True
            except Exception:  # pylint: disable=broad-except
                pass
            if attempt < 2:
                time.sleep(0.5)
        return False

    def status(self) -> dict:
        st = self._read_state()
        if not st:
            return {"state": "down", "state_dir": str(self.state_dir)}
        live = self._live(st)
        up = self.is_up()
        return {
            "state": "up" if up else ("stale" if any(live.values()) or st.get("processes") else "down"),
            "state_dir": str(self.state_dir),
            "server": st.get("server"),
            "kubeconfig": str(self.kubeconfig),
            "options": st.get("options"),
            "processes": {n: {"pid": r["pid"], "running": live.get(n, False)}
                          for n, r in st.get("processes", {}).items()},
            "ready_seconds": st.get("ready_seconds"),
        }

    # ---------------------------------------------------------------- up
    def up(self, timeout: float = 180.0, log=None) -> "Testbed":
        log = log or (lambda msg: None)
        with self._lock():
            if self.is_up():
                st = self._read_state()
                if "sim" in st.get("processes", {}) and not self._live(st).get("sim"):
                    log("simulated operators had stopped; restarting them")
                    self._start_sim(st)
                    self._write_state(st)
                log(f"testbed already up ({self.state_dir})")
                return self
            st = self._read_state()
            if st:
                log("cleaning up stale testbed state")
                self._stop(st, log)
            self._clean_runtime()
            t0 = time.monotonic()
            for attempt in (1, 2):
                try:
                    self._start(timeout, log, t0)
                    break
                except BaseException as e:
                    st = self._read_state()
                    if st:
                        self._stop(st, log)
                    # another testbed may have taken one of the free ports we picked
                    if attempt == 1 and isinstance(e, TestbedError) and "address already in use" in str(e):
                        log("port taken meanwhile; retrying with new ports")
                        self._clean_runtime()
                        continue
                    raise
            log(f"testbed ready in {time.monotonic() - t0:.1f}s; kubeconfig {self.kubeconfig}")
        return self

    def _ensure_binaries(self, log):
        missing = [c for c in COMPONENTS if not (bin_dir() / c).is_file()]
        if missing:
            log(f"building missing binaries: {', '.join(missing)}")
            subprocess.run([str(REPO / "testbed" / "build.sh")], check=True)

    def _clean_runtime(self):
        for name in ("etcd", "pki"):
            shutil.rmtree(self.state_dir / name, ignore_errors=True)
        for name in ("kubeconfig", "state.json", "kwok-stages.yaml"):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()

    def _spawn(self, st: dict, name: str, argv: list[str], env=None) -> subprocess.Popen:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        logf = open(self.logs_dir / f"{name}.log", "ab")
        logf.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        logf.flush()
        env = dict(env if env is not None else os.environ)
        if name in COMPONENTS:
            # less garbage-collection work during start-up (the machine is small, memory is not)
            env.setdefault("GOGC", os.environ.get("TESTBED_GOGC", "200"))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=str(self.state_dir), env=env)
        logf.close()
        self._procs[name] = p
        start = None
        for _ in range(100):
            start = _proc_start_time(p.pid)
            if start or p.poll() is not None:
                break
            time.sleep(0.01)
        st.setdefault("processes", {})[name] = {"pid": p.pid, "start": start, "argv": argv}
        self._write_state(st)
        return p

    def _check_alive(self, name: str):
        p = self._procs.get(name)
        if p is not None and p.poll() is not None:
            tail = ""
            with contextlib.suppress(OSError):
                tail = (self.logs_dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise TestbedError(f"{name} exited with {p.returncode}; log tail:\n{tail}")

    def _wait(self, what: str, fn, deadline: float, interval: float = 0.1, procs=()):
        while True:
            for n in procs:
                self._check_alive(n)
            try:
                if fn():
                    return
            except (OSError, ssl.SSLError, urllib.error.URLError, TestbedError):
                pass
            if time.monotonic() > deadline:
                raise TestbedError(f"timed out waiting for {what}")
            time.sleep(interval)

    def _start(self, timeout: float, log, t0: float):
        self._ensure_binaries(log)
        deadline = t0 + timeout
        b = bin_dir()
        sd = self.state_dir
        for d in ("logs", "etcd"):
            (sd / d).mkdir(parents=True, exist_ok=True)
        for f in self.logs_dir.glob("*.log"):  # keep the previous run's logs as *.log.1
            os.replace(f, f.with_suffix(".log.1"))
        os.chmod(sd / "etcd", 0o700)
        pki = _pki.generate(self.pki_dir)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        server = f"https://127.0.0.1:{api_port}"
        st = {
            "server": server,
            "ports": {"etcd": etcd_port, "etcd-peer": peer_port, "kube-apiserver": api_port},
            "options": {"workers": self.workers, "gpu_nodes": self.gpu_nodes, "platform": self.platform,
                        "sim": self.sim, "cluster_name": self.cluster_name,
                        "base_domain": self.base_domain, "ingress_domain": self.ingress_domain},
            "ready": False,
            "processes": {},
        }
        self._write_state(st)
        _stages.write(sd / "kwok-stages.yaml")

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(st, "etcd", [
            str(b / "etcd"), "--name=testbed", f"--data-dir={sd / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=testbed={peer_url}", "--initial-cluster-state=new",
            "--unsafe-no-fsync", "--log-level=warn", "--auto-compaction-retention=1",
            "--quota-backend-bytes=4294967296",
        ])

        def etcd_ok():
            with urllib.request.urlopen(etcd_url + "/health", timeout=1) as r:
                return json.loads(r.read()).get("health") == "true"
        self._wait("etcd", etcd_ok, deadline, 0.05, ["etcd"])
        log(f"etcd up ({time.monotonic() - t0:.1f}s)")

        self._spawn(st, "kube-apiserver", [
            str(b / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.pki_dir}",
            f"--tls-cert-file={pki['apiserver_crt']}", f"--tls-private-key-file={pki['apiserver_key']}",
            f"--client-ca-file={pki['ca_crt']}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki['sa_pub']}",
            f"--service-account-signing-key-file={pki['sa_key']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ] + os.environ.get("TESTBED_APISERVER_ARGS", "").split())
        _pki.write_kubeconfig(self.kubeconfig, server, pki)
        api = Api(server, pki)

        def api_ready():
            status, _ = api.request("GET", "/readyz", timeout=2)
            return status == 200
        self._wait("kube-apiserver /readyz", api_ready, deadline, 0.1, ["etcd", "kube-apiserver"])
        log(f"kube-apiserver ready ({time.monotonic() - t0:.1f}s)")

        kc = str(self.kubeconfig)
        self._spawn(st, "kube-controller-manager", [
            str(b / "kube-controller-manager"), f"--kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--secure-port=0",
            "--leader-elect=false", "--use-service-account-credentials=false",
            f"--service-account-private-key-file={pki['sa_key']}", f"--root-ca-file={pki['ca_crt']}",
            f"--cluster-signing-cert-file={pki['ca_crt']}", f"--cluster-signing-key-file={pki['ca_key']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--kube-api-qps=100", "--kube-api-burst=200",
            "--profiling=false", "--v=1",
        ])
        self._spawn(st, "kube-scheduler", [
            str(b / "kube-scheduler"), f"--kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
            "--profiling=false", "--v=1",
        ])
        self._spawn(st, "kwok", [
            str(b / "kwok"), f"--kubeconfig={kc}", f"--config={sd / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION[0]}={NODE_ANNOTATION[1]}",
            f"--cidr={POD_CIDR}", "--node-lease-duration-seconds=40",
        ], env={**os.environ, "HOME": str(sd)})  # HOME: never pick up ~/.kwok/kwok.yaml

        # OpenShift API surface, namespaces and nodes while the controllers start
        _openshift.bootstrap(api, self, deadline, log)
        self._create_nodes(api)
        log(f"API objects created ({time.monotonic() - t0:.1f}s)")

        procs = list(COMPONENTS)

        def sa_ready():
            status, _ = api.get("/api/v1/namespaces/default/serviceaccounts/default", timeout=2)
            return status == 200
        self._wait("default ServiceAccount", sa_ready, deadline, 0.1, procs)

        names = {f"worker-{i}" for i in range(self.workers)}

        def nodes_ready():
            status, out = api.get("/api/v1/nodes", timeout=2)
            ready = set()
            for n in out.get("items", []):
                for c in n.get("status", {}).get("conditions", []):
                    if c.get("type") == "Ready" and c.get("status") == "True":
                        ready.add(n["metadata"]["name"])
            return names <= ready
        self._wait("nodes Ready", nodes_ready, deadline, 0.1, procs)

        if self.sim and (REPO / "testbed" / "sim" / "__main__.py").is_file():
            self._start_sim(st)
        st["ready"] = True
        st["ready_seconds"] = round(time.monotonic() - t0, 2)
        self._write_state(st)

    def _start_sim(self, st: dict) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        self._spawn(st, "sim", [sys.executable, "-m", "testbed.sim", "--kubeconfig", str(self.kubeconfig)],
                    env=env)

    def _create_nodes(self, api: Api):
        for i in range(self.workers):
            name = f"worker-{i}"
            gpu = i < self.gpu_nodes
            labels = {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node.openshift.io/os_id": "rhcos",
                WORKER_LABEL: "",
                "type": "kwok",
            }
            annotations = {NODE_ANNOTATION[0]: NODE_ANNOTATION[1], "node.alpha.kubernetes.io/ttl": "0"}
            if gpu:
                labels[GPU_LABEL] = "true"
                annotations[GPU_COUNT_ANNOTATION] = str(self.gpu_count)
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels, "annotations": annotations},
                "spec": {},
            }
            status, out = api.request("POST", "/api/v1/nodes", node)
            if status >= 300 and status != 409:
                raise TestbedError(f"creating node {name}: {status} {out.get('message')}")
            resources = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
            api.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": {
                "capacity": resources, "allocatable": resources,
                "addresses": [{"type": "InternalIP", "address": f"10.0.1.{10 + i}"},
                              {"type": "Hostname", "address": name}],
            }}, ctype="application/merge-patch+json")

    # ---------------------------------------------------------------- down
    def down(self, log=None) -> None:
        log = log or (lambda msg: None)
        with self._lock():
            st = self._read_state()
            if st:
                self._stop(st, log)
            self._clean_runtime()
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / "users").exists() and shutil.rmtree(self.state_dir / "users")

    def _stop(self, st: dict, log) -> None:
        """Stop the recorded processes: clients first, then the API server, then etcd
        (etcd must outlive the API server or its shutdown hangs on retries)."""
        procs = st.get("processes", {})
        marker = self._marker()
        phases = [
            [n for n in procs if n not in ("kube-apiserver", "etcd")],
            [n for n in procs if n == "kube-apiserver"],
            [n for n in procs if n == "etcd"],
        ]
        for phase in phases:
            victims = []
            for n in phase:
                rec = procs[n]
                if _is_ours(rec, marker):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(rec["pid"], signal.SIGTERM)
                    victims.append((n, rec))
            deadline = time.monotonic() + 10
            for n, rec in victims:
                while _is_ours(rec, marker) and time.monotonic() < deadline:
                    self._reap(n)
                    time.sleep(0.02)
                if _is_ours(rec, marker):
                    log(f"{n} (pid {rec['pid']}) did not stop on SIGTERM; killing")
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(rec["pid"], signal.SIGKILL)
                    while _is_ours(rec, marker):
                        self._reap(n)
                        time.sleep(0.02)
                self._reap(n)
                log(f"stopped {n} (pid {rec['pid']})")
        st["processes"] = {}
        st["ready"] = False
        self._write_state(st)

    def _reap(self, name):
        p = self._procs.get(name)
        if p is not None:
            with contextlib.suppress(Exception):
                p.poll()

    # ---------------------------------------------------------------- helpers for tests
    def pids(self) -> dict[str, int]:
        st = self._read_state() or {}
        return {n: r["pid"] for n, r in st.get("processes", {}).items()}

    def new_api(self) -> Api:
        return Api(self.server, _pki.paths(self.pki_dir))


def new_uid() -> str:
    return str(uuid.uuid4())
