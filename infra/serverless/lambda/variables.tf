variable "region" {
  description = "AWS region of the function. Temporal Cloud: the namespace must be AWS-hosted (its cloud provider must match the compute provider)."
  type        = string
}

variable "function_name" {
  description = "Name of the Lambda function (also the prefix of its roles and log group)."
  type        = string
  default     = "claudomator-orchestration"
}

variable "image_uri" {
  description = "The Lambda image in ECR (infra/serverless/lambda/Dockerfile), tagged with the build id."
  type        = string
}

variable "architecture" {
  description = "x86_64 or arm64: the platform the image was built for."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64 (the platform of the image)."
  }
}

variable "build_id" {
  description = "The Worker Versioning build id of this function version: the image tag. Each apply with a new build id publishes a new function version."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._+-]{1,200}$", var.build_id))
    error_message = "build_id: letters, digits, '.', '_', '-' or '+', at most 200 characters (CLAUDOMATOR_BUILD_ID)."
  }
}

variable "deployment_name" {
  description = "The Worker Deployment name (CLAUDOMATOR_DEPLOYMENT_NAME); the same as the Kubernetes orchestration workers'."
  type        = string
  default     = "claudomator"
}

variable "temporal_address" {
  description = "TEMPORAL_ADDRESS (terraform output temporal_address in infra/terraform)."
  type        = string
}

variable "temporal_namespace" {
  description = "TEMPORAL_NAMESPACE (terraform output temporal_namespace in infra/terraform)."
  type        = string
}

variable "secret_ids" {
  description = "Secrets Manager secrets (names or ARNs) holding DATABASE_URL and TEMPORAL_API_KEY as plain strings; created and filled out of band."
  type = object({
    database_url     = string
    temporal_api_key = string
  })
  default = {
    database_url     = "claudomator/database-url"
    temporal_api_key = "claudomator/temporal-api-key"
  }
}

variable "task_queue" {
  description = "The orchestration task queue (CLAUDOMATOR_TASK_QUEUE)."
  type        = string
  default     = "claudomator"
}

variable "agent_task_queue" {
  description = "The agent hosts' task queue (CLAUDOMATOR_AGENT_TASK_QUEUE); the agent hosts themselves run elsewhere (infra/k8s)."
  type        = string
  default     = "claudomator-agents"
}

variable "agents" {
  description = "CLAUDOMATOR_AGENTS: the agents the pool offers, when this function is the first to start the pool."
  type        = string
  default     = "claude,gemini,codex,command"
}

variable "agent_slots" {
  description = "CLAUDOMATOR_AGENT_SLOTS: the pool's per-agent limits, when this function is the first to start the pool."
  type        = string
  default     = "claude=2,gemini=1,codex=1,command=2"
}

variable "timeout_seconds" {
  description = "The invocation deadline (at most 900). The worker polls until shutdown_grace + 4s before it, so longer means fewer cold starts per hour of work; every invocation is billed for the whole window."
  type        = number
  default     = 300

  validation {
    condition     = var.timeout_seconds >= 30 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 30 and 900 (Lambda's limit)."
  }
}

variable "shutdown_grace" {
  description = "CLAUDOMATOR_SHUTDOWN_GRACE: how long running activities may finish once the worker stops polling. Git activities longer than timeout_seconds minus this never finish here."
  type        = string
  default     = "20s"
}

variable "memory_mb" {
  description = "Function memory (and with it, CPU). The orchestration worker idles at ~190 MB; git clones of story activities need more."
  type        = number
  default     = 1024
}

variable "ephemeral_storage_mb" {
  description = "/tmp size: story activities clone the project's repository there."
  type        = number
  default     = 2048
}

variable "max_concurrency" {
  description = "Reserved concurrency: at most this many invocations (workers) at once, however large the backlog."
  type        = number
  default     = 10
}

variable "subnet_ids" {
  description = "Subnets for the function when Postgres is private (e.g. RDS in a VPC); they need a NAT route to Temporal. Empty: no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function when subnet_ids is set; Postgres must admit them."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the function's CloudWatch log group."
  type        = number
  default     = 30
}

variable "temporal_principal_arns" {
  description = "Who may assume the invocation role. Default: the Temporal Cloud worker controller roles (from Temporal's CloudFormation template). Self-hosted Temporal (>= 1.31): the ARN of the role or user the Temporal server runs as."
  type        = list(string)
  default = [
    "arn:aws:iam::902542641901:role/wci-lambda-invoke",
    "arn:aws:iam::160190466495:role/wci-lambda-invoke",
    "arn:aws:iam::819232936619:role/wci-lambda-invoke",
    "arn:aws:iam::829909441867:role/wci-lambda-invoke",
    "arn:aws:iam::354116250941:role/wci-lambda-invoke",
  ]
}

variable "external_id" {
  description = "External id Temporal presents when assuming the invocation role (a string you choose); the worker deployment version is registered with the same value."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9_+=,.@-]{5,45}$", var.external_id))
    error_message = "external_id: 5 to 45 characters from letters, digits and _+=,.@-"
  }
}

variable "register_version" {
  description = "Register the worker deployment version's compute config with the temporal CLI at apply (worker-version.sh register). Needs the temporal CLI and TEMPORAL_API_KEY in the environment of terraform apply."
  type        = bool
  default     = true
}
