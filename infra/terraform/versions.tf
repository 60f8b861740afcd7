# claudomator's Temporal Cloud namespace as code: the namespace, its retention, claudomator's search
# attributes and a namespace-scoped service account with an API key for the workers.
#
# The provider authenticates with a Temporal Cloud API key that may manage namespaces, read from
# TEMPORAL_CLOUD_API_KEY (the provider's own variable, not the workers'). The workers then connect
# with the values this module outputs, through @temporalio/envconfig:
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_API_KEY (docs/deploy.md).
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    temporalcloud = {
      source  = "temporalio/temporalcloud"
      version = "~> 1.1"
    }
  }
}

provider "temporalcloud" {}
