resource "temporalcloud_namespace" "claudomator" {
  name           = var.namespace_name
  regions        = var.regions
  retention_days = var.retention_days
  # Workers authenticate with an API key (TEMPORAL_API_KEY through @temporalio/envconfig), not mTLS.
  api_key_auth = true
}

# claudomator's search attributes: the names and types of SEARCH_ATTRIBUTES in
# workflows/definitions.ts (test/infra checks both lists agree). Search attributes cannot be
# deleted once created, so a removed entry stays in the namespace.
locals {
  search_attributes = {
    TaskState     = "keyword"
    AgentType     = "keyword"
    StoryId       = "keyword"
    ProjectId     = "keyword"
    ParentTaskId  = "keyword"
    StoryStatus   = "keyword"
    DrainedAgents = "keyword_list"
    PausedAgents  = "keyword_list"
  }
}

resource "temporalcloud_namespace_search_attribute" "claudomator" {
  for_each = local.search_attributes

  namespace_id = temporalcloud_namespace.claudomator.id
  name         = each.key
  type         = each.value
}

# The workers' identity: write access to this namespace only.
resource "temporalcloud_service_account" "workers" {
  name           = "${var.namespace_name}-workers"
  account_access = "read"
  namespace_accesses = [
    {
      namespace_id = temporalcloud_namespace.claudomator.id
      permission   = "write"
    }
  ]
}

resource "temporalcloud_apikey" "workers" {
  display_name = "${var.namespace_name}-workers"
  description  = "claudomator workers (TEMPORAL_API_KEY)"
  owner_type   = "service-account"
  owner_id     = temporalcloud_service_account.workers.id
  expiry_time  = var.worker_api_key_expiry
}

# KEDA's identity: it only reads the task queues' backlog, so it gets read access and a key of its
# own (the Secret claudomator-keda); the workers' key, which may start and signal workflows, stays
# with the workers.
resource "temporalcloud_service_account" "keda" {
  name           = "${var.namespace_name}-keda"
  account_access = "read"
  namespace_accesses = [
    {
      namespace_id = temporalcloud_namespace.claudomator.id
      permission   = "read"
    }
  ]
}

resource "temporalcloud_apikey" "keda" {
  display_name = "${var.namespace_name}-keda"
  description  = "KEDA's Temporal scaler: reads task queue backlogs"
  owner_type   = "service-account"
  owner_id     = temporalcloud_service_account.keda.id
  expiry_time  = var.worker_api_key_expiry
}
