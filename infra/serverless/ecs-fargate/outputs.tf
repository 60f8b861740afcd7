output "cluster_name" {
  description = "The ECS cluster of the agent hosts."
  value       = aws_ecs_cluster.agents.name
}

output "service_name" {
  description = "The ECS service; scale it with desired_count."
  value       = aws_ecs_service.agents.name
}
