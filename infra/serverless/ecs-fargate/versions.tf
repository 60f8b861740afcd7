# Agent hosts as a serverless container service: ECS on Fargate (docs/deploy.md, "Agent hosts on
# ECS Fargate"). Fargate gives a stopping task at most 120 seconds, far less than a run; what makes
# long runs fit is ECS task scale-in protection, which each agent host sets on its own task while
# agents run (worker/task-protection.ts): ECS then neither scales the task in nor replaces it in a
# deployment until its runs are done. Provider attributes are checked offline against
# infra/schemas/terraform/aws-6.69.1.json.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.69"
    }
  }
}

provider "aws" {
  region = var.region
}
