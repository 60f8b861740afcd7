output "function_arn" {
  description = "The function (unqualified)."
  value       = aws_lambda_function.orchestration.arn
}

output "function_version_arn" {
  description = "The function version of this build: the compute config of its worker deployment version (FUNCTION_ARN of worker-version.sh)."
  value       = aws_lambda_function.orchestration.qualified_arn
}

output "invoke_role_arn" {
  description = "The role Temporal assumes to invoke the function (INVOKE_ROLE_ARN of worker-version.sh); not the execution role."
  value       = aws_iam_role.temporal_invoke.arn
}

output "external_id" {
  description = "The external id of the invocation role's trust policy (EXTERNAL_ID of worker-version.sh)."
  value       = var.external_id
  sensitive   = true
}

output "deployment_name" {
  description = "The Worker Deployment (DEPLOYMENT_NAME of worker-version.sh)."
  value       = var.deployment_name
}

output "build_id" {
  description = "The build id of this function version (BUILD_ID of worker-version.sh)."
  value       = var.build_id
}

output "log_group" {
  description = "Where each invocation's worker logs go."
  value       = aws_cloudwatch_log_group.worker.name
}
