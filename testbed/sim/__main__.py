"""Entry point: python -m testbed.sim --kubeconfig <path>."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from . import gpu, ingress, kserve, mesh, model_registry, modelmesh, monitoring, olm, rhoai, serverless
from . import faults as F
from . import resources as R
from .kube import Kube
from .runtime import Controller, Manager

WATCHED = [
    R.NAMESPACE, R.NODE, R.POD, R.SERVICE, R.CONFIGMAP, R.SERVICEACCOUNT, R.DEPLOYMENT, R.DAEMONSET, R.ROLE,
    R.ROLEBINDING, R.CRD, R.VAP, R.VAPB, R.ROUTE, R.GROUP, R.INGRESS_CONFIG, R.SUBSCRIPTION, R.INSTALLPLAN, R.CSV,
    R.CATALOGSOURCE, R.OPERATORGROUP, R.OPERATORCONDITION, R.PACKAGEMANIFEST, R.SMCP, R.SMM, R.SMMR, R.GATEWAY,
    R.ENVOYFILTER, R.AUTHZ_POLICY, R.KNATIVESERVING, R.KSVC, R.AUTHORINO, R.AUTHCONFIG, R.DSCI, R.DSC,
    R.FEATURETRACKER, R.SERVINGRUNTIME, R.ISVC, R.MODELREGISTRY, R.NFD, R.CLUSTERPOLICY,
]


class FaultsController(Controller):
    """A change of the faults ConfigMap re-reconciles everything."""
    name = "faults"
    primary = R.CONFIGMAP

    seen_version = None

    def reconcile(self, ns, name):
        if ns != F.NAMESPACE or name != F.NAME:
            return None
        cm = self.mgr.get(R.CONFIGMAP, name, ns)
        version = cm["metadata"].get("resourceVersion") if cm else None
        if version != self.seen_version:  # only a change re-reconciles everything (resync enqueues us too)
            self.seen_version = version
            self.mgr.resync_all()
        return None


def build(kube: Kube) -> Manager:
    mgr = Manager(kube)
    for res in WATCHED:
        mgr.informer(res)
    for mod in (olm, mesh, serverless, rhoai, gpu, kserve, modelmesh, model_registry, monitoring):
        for c in mod.CONTROLLERS:
            mgr.add(c)
    mgr.add(FaultsController)
    return mgr


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.sim", description=__doc__)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("sim")
    kube = Kube(args.kubeconfig)
    mgr = build(kube)
    stop = threading.Event()

    def _term(*_):
        stop.set()

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    published = False
    try:
        # first, so that clients looking for PackageManifests right after `up` find them
        olm.publish_catalog(mgr)
        published = True
        log.info("catalog published")
    except Exception as e:  # noqa: BLE001
        log.warning("publishing the catalog: %s", e)
    mgr.start()
    data_path = ingress.start(mgr)  # HTTPS ingress + model-server simulator (testbed/sim/ingress.py)
    log.info("simulated operators running (%d controllers, %d watches)", len(mgr.controllers), len(mgr.informers))
    while not stop.wait(60 if published else 3):
        try:
            olm.publish_catalog(mgr)
            if not published:
                log.info("catalog published")
            published = True
        except Exception as e:  # noqa: BLE001
            log.warning("publishing the catalog: %s", e)
    mgr.stop.set()
    if data_path is not None:
        data_path.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
