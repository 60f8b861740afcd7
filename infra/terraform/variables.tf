variable "namespace_name" {
  description = "Name of the Temporal Cloud namespace (2-39 characters: lowercase letters, digits, hyphens)."
  type        = string
  default     = "claudomator"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,37}[a-z0-9]$", var.namespace_name))
    error_message = "namespace_name must be 2-39 characters, start with a letter, contain only lowercase letters, digits and hyphens, and not end with a hyphen."
  }
}

variable "regions" {
  description = "Cloud-provider-prefixed region ids (one, or two for a replicated namespace), e.g. [\"aws-us-east-1\"]."
  type        = list(string)
  default     = ["aws-us-east-1"]

  validation {
    condition     = length(var.regions) >= 1 && length(var.regions) <= 2
    error_message = "regions takes one region, or two for a high-availability namespace."
  }
}

variable "retention_days" {
  description = "Days Temporal keeps the history of closed workflows (tasks, stories). Postgres keeps claudomator's own record regardless."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 90
    error_message = "retention_days must be between 1 and 90."
  }
}

variable "worker_api_key_expiry" {
  description = "Expiry of the workers' and KEDA's API keys, RFC 3339 (e.g. 2027-06-30T00:00:00Z). Rotate before it passes."
  type        = string

  validation {
    condition     = can(formatdate("YYYY", var.worker_api_key_expiry))
    error_message = "worker_api_key_expiry must be an RFC 3339 timestamp such as 2027-06-30T00:00:00Z."
  }
}
