"""Shared by the install tests: cluster snapshots, seed fixtures and subset comparison."""

import glob
import json
import os

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = "playbooks/install.yml"
SEED_DIR = os.path.join(REPO, "tests", "unit", "fixtures", "seed_000")
MANUAL = {"model_serving_install_path": "manual"}
# A first install on the (loaded, 2-core) testbed takes several minutes.
INSTALL_TIMEOUT = 2400

# Kinds whose objects a write would create or change on a cluster that has nothing installed.
SNAPSHOT_KINDS = (
    ("v1", "Namespace"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("operators.coreos.com/v1alpha1", "Subscription"),
    ("operators.coreos.com/v1", "OperatorGroup"),
    ("operators.coreos.com/v1alpha1", "ClusterServiceVersion"),
)


# The testbed's own namespace (fault injection, the ingress address): never written by the collection.
TESTBED_NAMESPACE = "testbed-system"


def snapshot(k8s, kinds=SNAPSHOT_KINDS):
    """(kind, namespace, name) of every object of ``kinds`` (names only: the simulated operators
    may update their own objects at any time, but a write of ours adds objects). Objects of the
    testbed itself are left out."""
    out = set()
    for api_version, kind in kinds:
        res = k8s.resources.get(api_version=api_version, kind=kind)
        for item in res.get().to_dict().get("items", []):
            md = item["metadata"]
            if TESTBED_NAMESPACE in (md.get("namespace"), md["name"] if kind == "Namespace" else None):
                continue
            out.add((kind, md.get("namespace", ""), md["name"]))
    return out


# Kinds whose objects change on their own on an idle cluster (heartbeats, leader election, events)
# or that are not stored; everything else must keep its resourceVersion when nothing is written.
# kinds whose objects change by themselves (a CatalogSource's status follows its registry's connection
# state, as OLM's does); the collection never writes them
VOLATILE_KINDS = frozenset(("Event", "Lease", "Node", "EndpointSlice", "Endpoints", "ComponentStatus", "CatalogSource"))


def full_snapshot(k8s):
    """{(apiVersion, kind, namespace, name): resourceVersion} of every stored object of every
    listable kind, in all namespaces (all but VOLATILE_KINDS and the testbed's own namespace).
    Equal snapshots mean nothing at all was created, changed or deleted."""
    out = {}
    # one version per kind of a group: the preferred one, else any (OLM's Subscription, CSV and
    # InstallPlan exist only in v1alpha1, which is not its group's preferred version)
    chosen = {}
    for res in k8s.resources.search():
        if ("list" not in (res.verbs or []) or "/" in (res.name or "") or res.kind in VOLATILE_KINDS
                or res.kind.endswith("List")):
            continue
        key = (res.group, res.kind)
        if key not in chosen or (res.preferred and not chosen[key].preferred):
            chosen[key] = res
    for res in chosen.values():
        try:
            items = res.get().items
        except Exception:  # pylint: disable=broad-except
            continue  # a kind that cannot be listed has nothing to compare
        for obj in items:
            md = obj.metadata
            if TESTBED_NAMESPACE in (md.namespace, md.name if res.kind == "Namespace" else None):
                continue
            out[(res.group_version, res.kind, md.namespace or "", md.name)] = md.resourceVersion
    return out


def settled_snapshot(k8s, quiet=3.0, timeout=90.0):
    """A full snapshot once the cluster is idle: the simulated operators may still be creating their
    own objects right after the testbed starts, so snapshots are taken until none has changed for
    ``quiet`` seconds (a poll, not a fixed sleep); fails after ``timeout`` with what kept changing."""
    import time

    start = time.monotonic()
    last, since = full_snapshot(k8s), time.monotonic()
    while True:
        time.sleep(0.5)
        cur = full_snapshot(k8s)
        if cur != last:
            if time.monotonic() - start > timeout:
                raise AssertionError("the cluster did not settle in %ss: %s" % (timeout, snapshot_changes(last, cur)))
            last, since = cur, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return cur


def snapshot_changes(before, after):
    """What differs between two full snapshots, for an assertion message."""
    keys = sorted(set(before) | set(after), key=str)
    return ["%s %s %s/%s: %s" % (k[0], k[1], k[2], k[3], "created" if k not in before else "deleted" if k not in after
                                 else "changed") for k in keys if before.get(k) != after.get(k)]


def seed_documents():
    docs = []
    for path in sorted(glob.glob(os.path.join(SEED_DIR, "*.yaml.txt"))):
        with open(path) as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d)
    return docs


def strip_meta(doc):
    return {k: v for k, v in doc.items() if not k.startswith("x-")}


def missing_from(want, have, path=""):
    """Paths where ``want`` is not contained in ``have`` ([] = contained). Dicts: every key of
    ``want``; lists: every entry of ``want`` contained in some entry of ``have``; scalars: equal."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return ["%s: expected a mapping, found %r" % (path or "/", have)]
        out = []
        for k, v in want.items():
            if k not in have:
                out.append("%s.%s: missing" % (path, k))
            else:
                out.extend(missing_from(v, have[k], "%s.%s" % (path, k)))
        return out
    if isinstance(want, list):
        if not isinstance(have, list):
            return ["%s: expected a list, found %r" % (path, have)]
        out = []
        for i, w in enumerate(want):
            if not any(not missing_from(w, h) for h in have):
                out.append("%s[%d]: %s not found in %s" % (path, i, json.dumps(w), json.dumps(have)))
        return out
    return [] if want == have else ["%s: expected %r, found %r" % (path, want, have)]


def get_object(k8s, api_version, kind, name, namespace=None):
    res = k8s.resources.get(api_version=api_version, kind=kind)
    return res.get(name=name, namespace=namespace).to_dict()


def failure_text(run):
    """Every failed task result of an AnsibleRun, as one string (for message assertions)."""
    texts = []
    for name, res in run.task_results():
        if res.get("failed") or any(r.get("failed") for r in res.get("results", []) if isinstance(r, dict)):
            texts.append("%s: %s" % (name, json.dumps(res)))
    return "\n".join(texts)


def stats(run, host="localhost"):
    return run.stats.get(host, {})
