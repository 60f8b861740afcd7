# The orchestration worker on Cloud Run, as a worker pool (a pull-based workload: it polls Temporal
# and serves no requests), scaled on the Temporal task-queue backlog by CREMA, Cloud Run's external
# metrics autoscaler, which runs KEDA's Temporal scaler (crema.yaml). It scales to zero.
#
# Agent runs stay on long-lived hosts (infra/k8s agent StatefulSet): see README.md beside this file.
#
# Cloud Run gives a stopping instance 10 seconds between SIGTERM and SIGKILL, so the worker's
# CLAUDOMATOR_SHUTDOWN_GRACE is 8s here: enough for workflow tasks and store/git activities.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Cloud Run region, e.g. us-central1."
  type        = string
  default     = "us-central1"
}

variable "image" {
  description = "The orchestration image, tagged with the build id (infra/docker/Dockerfile, target orchestration)."
  type        = string
}

variable "build_id" {
  description = "The image tag: the Worker Versioning build id of this worker pool."
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

variable "secret_ids" {
  description = "Secret Manager secret ids holding DATABASE_URL and TEMPORAL_API_KEY; created and filled out of band."
  type = object({
    database_url     = string
    temporal_api_key = string
  })
  default = {
    database_url     = "claudomator-database-url"
    temporal_api_key = "claudomator-temporal-api-key"
  }
}

variable "max_instances" {
  description = "Upper bound for CREMA's scaling of the worker pool."
  type        = number
  default     = 10
}

resource "google_service_account" "worker" {
  account_id   = "claudomator-orchestration"
  display_name = "claudomator orchestration worker"
}

resource "google_secret_manager_secret_iam_member" "worker" {
  for_each  = toset([var.secret_ids.database_url, var.secret_ids.temporal_api_key])
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_cloud_run_v2_worker_pool" "orchestration" {
  name                = "claudomator-orchestration"
  location            = var.region
  deletion_protection = true

  # CREMA owns the instance count; Terraform sets only the starting point.
  scaling {
    scaling_mode          = "MANUAL"
    manual_instance_count = 0
  }

  template {
    service_account = google_service_account.worker.email

    containers {
      name  = "worker"
      image = var.image
      args  = ["worker", "--role", "orchestration"]

      resources {
        limits = {
          cpu    = "1"
          memory = "2Gi"
        }
      }

      env {
        name  = "TEMPORAL_ADDRESS"
        value = var.temporal_address
      }
      env {
        name  = "TEMPORAL_NAMESPACE"
        value = var.temporal_namespace
      }
      env {
        name = "TEMPORAL_API_KEY"
        value_source {
          secret_key_ref {
            secret  = var.secret_ids.temporal_api_key
            version = "latest"
          }
        }
      }
      env {
        name = "DATABASE_URL"
        value_source {
          secret_key_ref {
            secret  = var.secret_ids.database_url
            version = "latest"
          }
        }
      }
      env {
        name  = "CLAUDOMATOR_TASK_QUEUE"
        value = "claudomator"
      }
      env {
        name  = "CLAUDOMATOR_AGENT_TASK_QUEUE"
        value = "claudomator-agents"
      }
      env {
        name  = "CLAUDOMATOR_DEPLOYMENT_NAME"
        value = "claudomator"
      }
      env {
        name  = "CLAUDOMATOR_BUILD_ID"
        value = var.build_id
      }
      env {
        name  = "CLAUDOMATOR_SHUTDOWN_GRACE"
        value = "8s"
      }
      env {
        name  = "CLAUDOMATOR_DATA_DIR"
        value = "/tmp/claudomator"
      }
      env {
        name  = "CLAUDOMATOR_HEALTH_PORT"
        value = "8081"
      }
      env {
        name  = "CLAUDOMATOR_METRICS_PORT"
        value = "9464"
      }
      env {
        name  = "CLAUDOMATOR_LOG_LEVEL"
        value = "INFO"
      }

      startup_probe {
        http_get {
          path = "/readyz"
          port = 8081
        }
        period_seconds    = 2
        failure_threshold = 30
      }
      liveness_probe {
        http_get {
          path = "/healthz"
          port = 8081
        }
        period_seconds = 15
      }
    }
  }

  lifecycle {
    ignore_changes = [scaling[0].manual_instance_count]
  }

  depends_on = [google_secret_manager_secret_iam_member.worker]
}

# CREMA: reads crema.yaml from Parameter Manager and sets the worker pool's instance count.
resource "google_service_account" "crema" {
  account_id   = "claudomator-crema"
  display_name = "CREMA autoscaler for claudomator"
}

resource "google_project_iam_member" "crema" {
  for_each = toset(["roles/parametermanager.parameterViewer", "roles/run.developer"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.crema.email}"
}

resource "google_service_account_iam_member" "crema_acts_as_worker" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.crema.email}"
}

resource "google_secret_manager_secret_iam_member" "crema" {
  secret_id = var.secret_ids.temporal_api_key
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.crema.email}"
}

resource "google_parameter_manager_parameter" "crema" {
  parameter_id = "claudomator-crema"
  format       = "YAML"
}

resource "google_parameter_manager_parameter_version" "crema" {
  parameter            = google_parameter_manager_parameter.crema.id
  parameter_version_id = "build-${replace(var.build_id, ".", "-")}"
  parameter_data = templatefile("${path.module}/crema.yaml", {
    worker_pool        = "projects/${var.project_id}/locations/${var.region}/workerpools/${google_cloud_run_v2_worker_pool.orchestration.name}"
    temporal_address   = var.temporal_address
    temporal_namespace = var.temporal_namespace
    build_id           = var.build_id
    api_key_secret     = var.secret_ids.temporal_api_key
    max_instances      = var.max_instances
  })
}

resource "google_cloud_run_v2_service" "crema" {
  name                = "claudomator-crema"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = true

  template {
    service_account = google_service_account.crema.email

    # One always-on instance that polls the backlog every pollingInterval (crema.yaml).
    scaling {
      min_instance_count = 1
      max_instance_count = 1
    }

    containers {
      image = "us-central1-docker.pkg.dev/cloud-run-oss-images/crema-v1/autoscaler:1.0"

      resources {
        cpu_idle = false
      }

      env {
        name  = "CREMA_CONFIG"
        value = google_parameter_manager_parameter_version.crema.id
      }
    }
  }

  depends_on = [google_project_iam_member.crema]
}
