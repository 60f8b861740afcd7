variable "region" {
  description = "AWS region, e.g. us-east-1."
  type        = string
}

variable "image" {
  description = "The agents image (infra/docker/Dockerfile, target agents), tagged with the release."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the agent hosts."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets with a NAT route to the internet (model APIs, git hosts, Temporal Cloud)."
  type        = list(string)
}

variable "database_cidr" {
  description = "Address range of claudomator's Postgres (port 5432), the only private address the hosts reach."
  type        = string
}

variable "temporal_address" {
  description = "TEMPORAL_ADDRESS (terraform output temporal_address in infra/terraform)."
  type        = string
}

variable "temporal_namespace" {
  description = "TEMPORAL_NAMESPACE (terraform output temporal_namespace in infra/terraform)."
  type        = string
}

variable "secret_arns" {
  description = "Secrets Manager ARNs, created and filled out of band: DATABASE_URL, TEMPORAL_API_KEY and the agent credentials you use."
  type        = map(string)

  validation {
    condition     = contains(keys(var.secret_arns), "DATABASE_URL") && contains(keys(var.secret_arns), "TEMPORAL_API_KEY")
    error_message = "secret_arns needs DATABASE_URL and TEMPORAL_API_KEY (and e.g. ANTHROPIC_API_KEY)."
  }
}

variable "desired_count" {
  description = "Agent hosts to run. Each offers the slots of agent_slots; the agent pool caps concurrent runs per agent regardless."
  type        = number
  default     = 2
}

variable "agent_slots" {
  description = "CLAUDOMATOR_AGENT_SLOTS of each host."
  type        = string
  default     = "claude=2,gemini=1,codex=1,command=2"
}

variable "run_timeout" {
  description = "CLAUDOMATOR_DEFAULT_TIMEOUT: the longest agent run; task protection outlasts it."
  type        = string
  default     = "2h"
}
