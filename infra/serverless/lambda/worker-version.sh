#!/usr/bin/env bash
# The worker deployment version of an orchestration Lambda build, with the temporal CLI (>= 1.9):
#
#   worker-version.sh register   # the version exists, with its compute config (terraform apply runs this)
#   worker-version.sh current    # make it current: new tasks and stories start on it
#   RAMP_PERCENTAGE=10 worker-version.sh current   # or send that share of new workflows to it first
#
# `register` creates the Worker Deployment if needed, then creates the version
# <DEPLOYMENT_NAME>/<BUILD_ID> with its compute config (FUNCTION_ARN, INVOKE_ROLE_ARN, EXTERNAL_ID),
# or updates the compute config of a version that exists. Temporal checks at once that it can
# assume the role; a role created moments ago can take a while to be assumable, so that step is
# retried. `current` makes the version current (or ramping); it has no pollers until Temporal
# invokes the function, hence --allow-no-pollers. Workflows pinned to older builds stay on them.
#
# Inputs: the variables above, each from the environment, else from `terraform output` of this
# directory. The Temporal connection is the CLI's own: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
# TEMPORAL_API_KEY (or a profile). TEMPORAL_CLI_PATH overrides the CLI (default: temporal on PATH).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
temporal="${TEMPORAL_CLI_PATH:-temporal}"

usage() {
  echo "usage: $0 register|current   (see the top of this file)" >&2
  exit 2
}

# The environment variable $1, else the terraform output $2.
input() {
  local value="${!1:-}"
  if [[ -z "$value" ]] && command -v terraform >/dev/null; then
    # -json, not -raw: without state, -raw prints a warning on stdout and succeeds.
    value="$(terraform -chdir="$here" output -json 2>/dev/null | node -e '
      const outputs = JSON.parse(require("fs").readFileSync(0, "utf8") || "{}");
      const value = outputs[process.argv[1]]?.value;
      if (typeof value === "string") process.stdout.write(value);' "$2" || true)"
  fi
  if [[ -z "$value" ]]; then
    echo "$0: $1 is not set and \`terraform output $2\` has no value: set $1, or run terraform apply in $here first" >&2
    exit 2
  fi
  printf '%s' "$value"
}

register() {
  local deployment build function_arn role_arn external_id
  deployment="$(input DEPLOYMENT_NAME deployment_name)"
  build="$(input BUILD_ID build_id)"
  function_arn="$(input FUNCTION_ARN function_version_arn)"
  role_arn="$(input INVOKE_ROLE_ARN invoke_role_arn)"
  external_id="$(input EXTERNAL_ID external_id)"

  if ! "$temporal" worker deployment describe --name "$deployment" >/dev/null 2>&1; then
    "$temporal" worker deployment create --name "$deployment"
  fi

  local action=create-version
  if "$temporal" worker deployment describe-version --deployment-name "$deployment" --build-id "$build" >/dev/null 2>&1; then
    action=update-version-compute-config
  fi
  local attempt output
  for attempt in 1 2 3 4 5 6; do
    if output="$("$temporal" worker deployment "$action" \
      --deployment-name "$deployment" --build-id "$build" \
      --aws-lambda-function-arn "$function_arn" \
      --aws-lambda-assume-role-arn "$role_arn" \
      --aws-lambda-assume-role-external-id "$external_id" 2>&1)"; then
      echo "$output"
      echo "$deployment/$build: compute config set to $function_arn (not current yet: $0 current)"
      return 0
    fi
    if [[ "$output" != *"assume role"* || "$attempt" == 6 ]]; then
      echo "$output" >&2
      echo "$0: $action of $deployment/$build failed" >&2
      exit 1
    fi
    echo "Temporal cannot assume $role_arn yet (attempt $attempt); IAM changes take a moment to spread, retrying in 10s" >&2
    sleep 10
  done
}

current() {
  local deployment build
  deployment="$(input DEPLOYMENT_NAME deployment_name)"
  build="$(input BUILD_ID build_id)"
  if [[ -n "${RAMP_PERCENTAGE:-}" ]]; then
    "$temporal" worker deployment set-ramping-version --deployment-name "$deployment" --build-id "$build" \
      --percentage "$RAMP_PERCENTAGE" --allow-no-pollers --yes
  else
    "$temporal" worker deployment set-current-version --deployment-name "$deployment" --build-id "$build" \
      --allow-no-pollers --yes
  fi
}

case "${1:-}" in
  register) register ;;
  current) current ;;
  *) usage ;;
esac
