"""python -m testbed up|down|status [options] (see testbed/README.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .cluster import DEFAULT_STATE_DIR, PLATFORMS, Testbed, TestbedError


def _log(msg: str) -> None:
    print(f"[testbed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR),
                       help="directory for state, logs and kubeconfig (default: %(default)s)")
        if name == "up":
            p.add_argument("--workers", type=int, default=3, help="simulated worker nodes (default 3)")
            p.add_argument("--gpu-nodes", type=int, default=1,
                           help="how many workers carry the simulated GPU markers (default 1)")
            p.add_argument("--gpu-count", type=int, default=1, help="GPUs per GPU node (default 1)")
            p.add_argument("--platform", choices=PLATFORMS, default="AWS")
            p.add_argument("--cluster-name", default=None)
            p.add_argument("--base-domain", default=None)
            p.add_argument("--openshift-version", default="4.16.20")
            p.add_argument("--no-sim", action="store_true", help="do not start the simulated operators")
            p.add_argument("--timeout", type=float, default=180.0)
        if name == "status":
            p.add_argument("--json", action="store_true")
            p.add_argument("--check", action="store_true", help="exit 3 unless the testbed is up")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "up":
            tb = Testbed(a.state_dir, workers=a.workers, gpu_nodes=a.gpu_nodes, platform=a.platform,
                         sim=not a.no_sim, cluster_name=a.cluster_name, base_domain=a.base_domain,
                         gpu_count=a.gpu_count, openshift_version=a.openshift_version)
            tb.up(timeout=a.timeout, log=_log)
            print(tb.kubeconfig)
        elif a.cmd == "down":
            Testbed(a.state_dir).down(log=_log)
            _log("testbed down")
        else:
            st = Testbed(a.state_dir).status()
            if a.json:
                print(json.dumps(st, indent=2))
            else:
                print(f"state:      {st['state']}")
                print(f"state dir:  {st['state_dir']}")
                if st.get("server"):
                    print(f"server:     {st['server']}")
                    print(f"kubeconfig: {st['kubeconfig']}")
                    print(f"options:    {json.dumps(st.get('options'))}")
                    if st.get("ready_seconds") is not None:
                        print(f"ready in:   {st['ready_seconds']}s")
                for n, p in (st.get("processes") or {}).items():
                    print(f"  {n:<24} pid {p['pid']:<8} {'running' if p['running'] else 'NOT RUNNING'}")
            return 3 if a.check and st["state"] != "up" else 0
    except (TestbedError, ValueError) as e:
        _log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
