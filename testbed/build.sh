#!/usr/bin/env bash
# Build the testbed's control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd) and kwok from the pinned Go modules in testbed/build and testbed/kwok.
# Output: $TESTBED_BIN (default .testbed/bin). A build whose inputs are unchanged is a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${TESTBED_BIN:-$root/.testbed/bin}
mkdir -p "$bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/build/go.mod")
kwok_version=$(awk '$1=="sigs.k8s.io/kwok"{print $2; exit}' "$here/kwok/go.mod")
stamp_input=$(cat "$here/build/go.mod" "$here/build/go.sum" "$here/kwok/go.mod" "$here/kwok/go.sum" "$0" | sha256sum | cut -d' ' -f1)
want="$bin/kube-apiserver $bin/kube-controller-manager $bin/kube-scheduler $bin/etcd $bin/kwok"
if [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp_input" ]; then
  ok=1; for f in $want; do [ -x "$f" ] || ok=0; done
  if [ $ok = 1 ]; then echo "testbed binaries up to date ($k8s_version, kwok $kwok_version)"; exit 0; fi
fi

minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
start=$(date +%s)
echo "building kube-apiserver, kube-controller-manager, kube-scheduler, etcd ($k8s_version) into $bin"
(cd "$here/build" && go build -trimpath -ldflags "$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
(cd "$here/build" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
echo "building kwok $kwok_version"
(cd "$here/kwok" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$kwok_version" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
echo "$stamp_input" > "$bin/.stamp"
echo "built in $(( $(date +%s) - start ))s"
