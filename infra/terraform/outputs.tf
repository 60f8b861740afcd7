# The workers' connection, in @temporalio/envconfig's variables.

output "temporal_address" {
  description = "TEMPORAL_ADDRESS: the gRPC endpoint for API-key clients."
  value       = temporalcloud_namespace.claudomator.endpoints.grpc_address
}

output "temporal_namespace" {
  description = "TEMPORAL_NAMESPACE: the namespace id, <name>.<account>."
  value       = temporalcloud_namespace.claudomator.id
}

output "temporal_api_key" {
  description = "TEMPORAL_API_KEY: store it in the Secret claudomator-secrets, never in a file in git."
  value       = temporalcloud_apikey.workers.token
  sensitive   = true
}

output "web_ui_url" {
  description = "CLAUDOMATOR_UI_URL: the namespace in the Temporal Cloud Web UI."
  value       = "https://cloud.temporal.io/namespaces/${temporalcloud_namespace.claudomator.id}"
}

output "keda_api_key" {
  description = "KEDA's read-only key: store it in the Secret claudomator-keda (key apiKey), never in a file in git."
  value       = temporalcloud_apikey.keda.token
  sensitive   = true
}
