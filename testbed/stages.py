"""kwok Stage configuration for the testbed's simulated nodes and pods.

Written for this project (kwok v0.8 ships no default stages). The stages are mutually
exclusive by their selectors, so kwok never has to pick one at random.

Pod annotations honoured (see testbed/README.md, "Pod failure annotations"):

- ``testbed.openshift-ai.io/fail``: ``CrashLoopBackOff`` | ``ImagePullBackOff`` | ``NotReady`` | ``OOMKilled``
  (``OOMKilled``: the container is killed for exceeding its memory limit, exit code 137, and restarted
  with the crash-loop back-off, as the kubelet reports it: waiting ``CrashLoopBackOff`` with
  ``lastState.terminated.reason: OOMKilled``)
- ``testbed.openshift-ai.io/fail-container``: container that fails (default: the first one)
- ``testbed.openshift-ai.io/ready-delay``: seconds (or a Go duration such as ``1m``) the pod
  stays Running but not Ready before it becomes Ready
"""

from __future__ import annotations

import json

ANN = "testbed.openshift-ai.io"
FAIL = f"{ANN}/fail"
FAIL_CONTAINER = f"{ANN}/fail-container"
READY_DELAY = f"{ANN}/ready-delay"

# kubelet's crash-loop back-off: 10s doubling up to 5m.
BACKOFF_STEPS = ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]


def _key(annotation: str) -> str:
    return f'.metadata.annotations["{annotation}"]'


def _expr(key: str, op: str, values: list[str] | None = None) -> dict:
    e = {"key": key, "operator": op}
    if values:
        e["values"] = values
    return e


NOT_DELETING = _expr(".metadata.deletionTimestamp", "DoesNotExist")
READY_STATUS = '.status.conditions.[] | select( .type == "Ready" ) | .status'


def _phase(*phases: str) -> dict:
    return _expr(".status.phase", "In", list(phases))


def _stage(name: str, kind: str, exprs: list[dict], template: str | None = None,
           delay: dict | None = None, event: dict | None = None, delete: bool = False) -> dict:
    nxt: dict = {}
    if template is not None:
        nxt["statusTemplate"] = template
    if event:
        nxt["event"] = event
    if delete:
        nxt["delete"] = True
    spec: dict = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": exprs},
        "next": nxt,
    }
    if delay:
        spec["delay"] = delay
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": name}, "spec": spec}


# ---------------------------------------------------------------- node templates

_NODE_CONDITIONS = """
{{ $now := Now }}
{{ $since := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- type: {{ .type | Quote }}
  status: {{ .status | Quote }}
  reason: {{ .reason | Quote }}
  message: {{ .message | Quote }}
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $since | Quote }}
{{ end }}
"""

NODE_INIT = _NODE_CONDITIONS + """
addresses:
{{ with .status.addresses }}{{ YAML . 1 }}{{ else }}- type: InternalIP
  address: {{ or NodeIP "127.0.0.1" | Quote }}
- type: Hostname
  address: {{ .metadata.name | Quote }}
{{ end }}
allocatable:
{{ with .status.allocatable }}{{ YAML . 1 }}{{ else }}  cpu: "16"
  memory: 64Gi
  pods: "110"
{{ end }}
capacity:
{{ with .status.capacity }}{{ YAML . 1 }}{{ else }}  cpu: "16"
  memory: 64Gi
  pods: "110"
{{ end }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  osImage: Red Hat Enterprise Linux CoreOS (testbed)
  kernelVersion: 5.14.0-testbed
  containerRuntimeVersion: cri-o://1.31.0-testbed
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: ""
  machineID: {{ sha256sum .metadata.name | trunc 32 | Quote }}
  systemUUID: {{ sha256sum .metadata.uid | trunc 32 | Quote }}
  bootID: {{ sha256sum (printf "boot-%s" .metadata.uid) | trunc 32 | Quote }}
phase: Running
"""

NODE_HEARTBEAT = _NODE_CONDITIONS


# ----------------------------------------------------------------- pod templates
#
# Shared pieces. Variables set by _POD_HEAD:
#   $now, $ann (annotations map), $failName (container that fails), $ns/$name/$uid.

_POD_HEAD = """
{{ $now := Now }}
{{ $ann := or .metadata.annotations dict }}
{{ $failName := or ( index $ann "%(fail_container)s" ) ( index .spec.containers 0 ).name }}
{{ $uid := or .metadata.uid "" }}
{{ $podRef := printf "%%s_%%s(%%s)" .metadata.name .metadata.namespace $uid }}
{{ $started := dict }}
{{ range ( or .status.containerStatuses list ) }}{{ if .state.running }}{{ $_ := set $started .name .state.running.startedAt }}{{ end }}{{ end }}
""" % {"fail_container": FAIL_CONTAINER}

_POD_ADDRESSES = """
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ if .status.podIP }}
podIP: {{ .status.podIP | Quote }}
{{ else }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) $uid ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ end }}
startTime: {{ or .status.startTime $now | Quote }}
"""

_INIT_STATUSES = """
initContainerStatuses:
{{ range .spec.initContainers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: {{ printf "%s@sha256:%s" .image ( sha256sum .image ) | Quote }}
  containerID: {{ printf "cri-o://%s" ( sha256sum ( printf "%s/init/%s" $uid .name ) ) | Quote }}
  restartCount: 0
{{ if eq ( or .restartPolicy "" ) "Always" }}
  ready: true
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ else }}
  ready: true
  started: false
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
"""


def _conditions(ready: str) -> str:
    """Pod conditions; ``ready`` is a Go-template expression yielding "True"/"False"."""
    return """
{{ $readyStatus := %(ready)s }}
conditions:
- type: PodReadyToStartContainers
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ if eq $readyStatus "True" }}
- type: Ready
  status: "True"
  reason: null
  message: null
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "True"
  reason: null
  message: null
  lastTransitionTime: {{ $now | Quote }}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
{{ else }}
- type: Ready
  status: "False"
  reason: ContainersNotReady
  message: {{ printf "containers with unready status: [%%s]" $unready | Quote }}
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: ContainersNotReady
  message: {{ printf "containers with unready status: [%%s]" $unready | Quote }}
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
""" % {"ready": ready}


def _container_status(mode: str) -> str:
    """One entry of containerStatuses for the container in `.` (inside a range over
    .spec.containers with `$item`). ``mode`` selects how the *failing* container looks;
    the others are running and ready unless ``mode`` is ``unready-all``."""
    common = """
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
  imageID: {{ printf "%s@sha256:%s" $item.image ( sha256sum $item.image ) | Quote }}
  containerID: {{ printf "cri-o://%s" ( sha256sum ( printf "%s/%s" $uid $item.name ) ) | Quote }}
"""
    running_ready = common + """
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ or ( index $started $item.name ) $now | Quote }}
"""
    running_unready = common + """
  ready: false
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
"""
    if mode == "ready":
        return running_ready
    if mode == "unready-all":
        return running_unready
    if mode == "notready":
        failing = running_unready
    elif mode in ("crashloop", "oomkilled"):
        exit_code, reason = (137, "OOMKilled") if mode == "oomkilled" else (1, "Error")
        failing = """
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
  imageID: {{ printf "%s@sha256:%s" $item.image ( sha256sum $item.image ) | Quote }}
  containerID: {{ printf "cri-o://%s" ( sha256sum ( printf "%s/%s/%d" $uid $item.name $restarts ) ) | Quote }}
  ready: false
  started: false
  restartCount: {{ $restarts }}
  lastState:
    terminated:
      exitCode: """ + str(exit_code) + """
      reason: """ + reason + """
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
      containerID: {{ printf "cri-o://%s" ( sha256sum ( printf "%s/%s/%d" $uid $item.name $restarts ) ) | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off %s restarting failed container=%s pod=%s" $backoff $item.name $podRef | Quote }}
"""
    elif mode == "errimagepull":
        failing = """
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: ErrImagePull
      message: {{ $pullErr | Quote }}
"""
    elif mode == "imagepullbackoff":
        failing = """
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q: ErrImagePull: %s" $item.image $pullErr | Quote }}
"""
    else:
        raise ValueError(mode)
    return ("{{ if eq $item.name $failName }}" + failing + "{{ else }}" + running_ready + "{{ end }}")


def _pod_template(mode: str, phase: str, ready: str, unready: str = "$failName",
                  pre: str = "") -> str:
    return (
        _POD_HEAD
        + pre
        + "{{ $unready := %s }}\n" % unready
        + _conditions(ready)
        + "containerStatuses:\n{{ range $item := .spec.containers }}"
        + _container_status(mode)
        + "{{ end }}\n"
        + _INIT_STATUSES
        + _POD_ADDRESSES
        + f"phase: {phase}\n"
    )


# space-separated names of all containers (used when every container is unready)
_ALL_CONTAINER_NAMES = """{{ $names := list }}{{ range .spec.containers }}{{ $names = append $names .name }}{{ end }}"""

# CRI-O's error for a missing image, as the kubelet reports it in ErrImagePull:
#   rpc error: code = Unknown desc = reading manifest <tag> in <repository>: manifest unknown
_PULL_ERR = (
    '{{ $pullErr := "" }}{{ range .spec.containers }}{{ if eq .name $failName }}'
    '{{ $repo := .image }}{{ $tag := "latest" }}{{ $parts := splitList ":" .image }}'
    '{{ if gt ( len $parts ) 1 }}{{ if not ( contains "/" ( last $parts ) ) }}'
    '{{ $tag = last $parts }}{{ $repo = join ":" ( initial $parts ) }}{{ end }}{{ end }}'
    '{{ $pullErr = printf "rpc error: code = Unknown desc = reading manifest %s in %s: manifest unknown" '
    '$tag $repo }}{{ end }}{{ end }}\n'
)

# restartCount of the failing container so far (0 before the first crash)
_RESTARTS = (
    '{{ $prev := 0 }}{{ range .status.containerStatuses }}{{ if eq .name $failName }}'
    '{{ $prev = int .restartCount }}{{ end }}{{ end }}\n'
    '{{ $restarts := add1 $prev }}\n'
    '{{ $steps := list %s }}\n'
    '{{ $backoff := index $steps ( min ( sub $restarts 1 ) %d ) }}\n'
) % (" ".join(json.dumps(s) for s in BACKOFF_STEPS), len(BACKOFF_STEPS) - 1)

# jq: delay before the next crash = back-off for the current restart count
_BACKOFF_JQ = (
    '[ .status.containerStatuses[]? | .restartCount ] | (max // 1) as $n '
    '| %s[ ([($n - 1), %d] | min) ]'
) % (json.dumps(BACKOFF_STEPS), len(BACKOFF_STEPS) - 1)

# jq: ready-delay annotation as a Go duration ("5" -> "5s", "1m" stays)
_READY_DELAY_JQ = (
    '.metadata.annotations["%s"] | tostring | if test("^[0-9]+(\\\\.[0-9]+)?$") then . + "s" else . end'
) % READY_DELAY


def stages() -> list[dict]:
    no_fail = _expr(_key(FAIL), "DoesNotExist")
    pending = _phase("Pending")
    running = _phase("Running")
    not_ready = _expr(READY_STATUS, "NotIn", ["True"])
    no_waiting_reason = _expr(".status.containerStatuses.[].state.waiting.reason", "NotIn",
                              ["ErrImagePull", "ImagePullBackOff"])
    all_names = _ALL_CONTAINER_NAMES + '{{ $allNames := join " " $names }}\n'
    out = [
        _stage("testbed-node-initialize", "Node",
               [_expr(READY_STATUS, "NotIn", ["True"])], NODE_INIT),
        # node status every ~5 min like the kubelet's nodeStatusReportFrequency; liveness comes
        # from the node Lease that kwok renews (--node-lease-duration-seconds)
        _stage("testbed-node-heartbeat", "Node",
               [_phase("Running"), _expr(READY_STATUS, "In", ["True"])], NODE_HEARTBEAT,
               delay={"durationMilliseconds": 300000, "jitterDurationMilliseconds": 330000}),
        # normal pods: straight to Running + Ready
        _stage("testbed-pod-ready", "Pod",
               [NOT_DELETING, pending, no_fail, _expr(_key(READY_DELAY), "DoesNotExist"), not_ready],
               _pod_template("ready", "Running", '"True"')),
        # ready-delay: Running but not Ready, then Ready after the delay
        _stage("testbed-pod-start-unready", "Pod",
               [NOT_DELETING, pending, no_fail, _expr(_key(READY_DELAY), "Exists")],
               _pod_template("unready-all", "Running", '"False"', "$allNames", pre=all_names)),
        _stage("testbed-pod-delayed-ready", "Pod",
               [NOT_DELETING, running, no_fail, _expr(_key(READY_DELAY), "Exists"), not_ready],
               _pod_template("ready", "Running", '"True"'),
               delay={"durationMilliseconds": 5000,
                      "durationFrom": {"expressionFrom": _READY_DELAY_JQ}}),
        # NotReady: running, readiness never passes
        _stage("testbed-pod-notready", "Pod",
               [NOT_DELETING, pending, _expr(_key(FAIL), "In", ["NotReady"])],
               _pod_template("notready", "Running", '"False"'),
               event={"type": "Warning", "reason": "Unhealthy",
                      "message": "Readiness probe failed: HTTP probe failed with statuscode: 503"}),
        # CrashLoopBackOff: first crash, then a restart at every back-off step
        _stage("testbed-pod-crashloop", "Pod",
               [NOT_DELETING, pending, _expr(_key(FAIL), "In", ["CrashLoopBackOff"])],
               _pod_template("crashloop", "Running", '"False"', pre=_RESTARTS),
               event={"type": "Warning", "reason": "BackOff",
                      "message": "Back-off restarting failed container"}),
        _stage("testbed-pod-crashloop-restart", "Pod",
               [NOT_DELETING, running, _expr(_key(FAIL), "In", ["CrashLoopBackOff"])],
               _pod_template("crashloop", "Running", '"False"', pre=_RESTARTS),
               delay={"durationMilliseconds": 10000,
                      "durationFrom": {"expressionFrom": _BACKOFF_JQ}},
               event={"type": "Warning", "reason": "BackOff",
                      "message": "Back-off restarting failed container"}),
        # OOMKilled: killed for exceeding the memory limit (exit code 137), restarted with the back-off
        _stage("testbed-pod-oomkilled", "Pod",
               [NOT_DELETING, pending, _expr(_key(FAIL), "In", ["OOMKilled"])],
               _pod_template("oomkilled", "Running", '"False"', pre=_RESTARTS),
               event={"type": "Warning", "reason": "BackOff",
                      "message": "Back-off restarting failed container"}),
        _stage("testbed-pod-oomkilled-restart", "Pod",
               [NOT_DELETING, running, _expr(_key(FAIL), "In", ["OOMKilled"])],
               _pod_template("oomkilled", "Running", '"False"', pre=_RESTARTS),
               delay={"durationMilliseconds": 10000,
                      "durationFrom": {"expressionFrom": _BACKOFF_JQ}},
               event={"type": "Warning", "reason": "BackOff",
                      "message": "Back-off restarting failed container"}),
        # ImagePullBackOff: ErrImagePull first, ImagePullBackOff shortly after
        _stage("testbed-pod-errimagepull", "Pod",
               [NOT_DELETING, pending, _expr(_key(FAIL), "In", ["ImagePullBackOff", "ErrImagePull"]),
                no_waiting_reason],
               _pod_template("errimagepull", "Pending", '"False"', pre=_PULL_ERR),
               event={"type": "Warning", "reason": "Failed", "message": "Error: ErrImagePull"}),
        _stage("testbed-pod-imagepullbackoff", "Pod",
               [NOT_DELETING, pending, _expr(_key(FAIL), "In", ["ImagePullBackOff"]),
                _expr(".status.containerStatuses.[].state.waiting.reason", "In", ["ErrImagePull"])],
               _pod_template("imagepullbackoff", "Pending", '"False"', pre=_PULL_ERR),
               delay={"durationMilliseconds": 1500},
               event={"type": "Warning", "reason": "Failed", "message": "Error: ImagePullBackOff"}),
        # Job pods complete once they were Ready
        _stage("testbed-pod-complete", "Pod",
               [NOT_DELETING, running, no_fail, _expr(READY_STATUS, "In", ["True"]),
                _expr(".metadata.ownerReferences.[].kind", "In", ["Job"])],
               _POD_HEAD + """
containerStatuses:
{{ range $item := .spec.containers }}
- name: {{ $item.name | Quote }}
  image: {{ $item.image | Quote }}
  imageID: {{ printf "%s@sha256:%s" $item.image ( sha256sum $item.image ) | Quote }}
  containerID: {{ printf "cri-o://%s" ( sha256sum ( printf "%s/%s" $uid $item.name ) ) | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
conditions:
- type: Ready
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
phase: Succeeded
"""),
        # deletion: kubelet would stop the containers and remove the pod
        _stage("testbed-pod-delete", "Pod",
               [_expr(".metadata.deletionTimestamp", "Exists")], delete=True),
    ]
    return out


def render() -> str:
    """All stages as a multi-document YAML string (JSON documents are valid YAML)."""
    return "\n---\n".join(json.dumps(s, indent=1) for s in stages()) + "\n"


def write(path) -> None:
    from pathlib import Path
    Path(path).write_text(render())
