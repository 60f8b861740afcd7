# The orchestration role on AWS Lambda as a Temporal Serverless Worker: Temporal invokes the
# function when this build's orchestration queue has work and no worker polls it; each invocation
# runs a worker (worker/lambda.ts) until shortly before its deadline. Nothing runs, and nothing is
# billed, while no workflow has work. Agent runs stay on long-lived hosts (infra/k8s).
#
# What this creates: the function (a container image: story activities need git), its execution
# role and log group, the IAM role Temporal assumes to invoke it (trust gated by the external id),
# and — through worker-version.sh, run at apply — the worker deployment version whose compute
# config points at the published function version. Making that version current is a separate,
# deliberate step (worker-version.sh current), after `claudomator migrate`: see README.md.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_secretsmanager_secret_version" "database_url" {
  secret_id = var.secret_ids.database_url
}

data "aws_secretsmanager_secret_version" "temporal_api_key" {
  secret_id = var.secret_ids.temporal_api_key
}

# ---- The function and its execution role ---------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.function_name}-execution"
  description        = "What the claudomator orchestration function may do: write its logs (and join the VPC)."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "execution_logs" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy_attachment" "execution_vpc" {
  count      = length(var.subnet_ids) > 0 ? 1 : 0
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "orchestration" {
  function_name = var.function_name
  description   = "claudomator orchestration worker, build ${var.build_id}"
  role          = aws_iam_role.execution.arn
  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = [var.architecture]
  memory_size   = var.memory_mb
  timeout       = var.timeout_seconds
  # Every build is a published, immutable function version: the worker deployment version of a
  # build invokes its own function version, so workflows pinned to an older build keep running
  # that build's code after a newer one is current.
  publish                        = true
  reserved_concurrent_executions = var.max_concurrency

  image_config {
    command = ["dist/worker/lambda.handler"]
  }

  ephemeral_storage {
    size = var.ephemeral_storage_mb
  }

  # Secret values come from Secrets Manager at apply: they are stored in the function's
  # configuration (encrypted at rest) and in the Terraform state — keep the state in an encrypted
  # backend. Rotating one: update the secret, apply again.
  environment {
    variables = {
      TEMPORAL_ADDRESS             = var.temporal_address
      TEMPORAL_NAMESPACE           = var.temporal_namespace
      TEMPORAL_API_KEY             = data.aws_secretsmanager_secret_version.temporal_api_key.secret_string
      DATABASE_URL                 = data.aws_secretsmanager_secret_version.database_url.secret_string
      CLAUDOMATOR_TASK_QUEUE       = var.task_queue
      CLAUDOMATOR_AGENT_TASK_QUEUE = var.agent_task_queue
      CLAUDOMATOR_DEPLOYMENT_NAME  = var.deployment_name
      CLAUDOMATOR_BUILD_ID         = var.build_id
      CLAUDOMATOR_SHUTDOWN_GRACE   = var.shutdown_grace
      CLAUDOMATOR_AGENTS           = var.agents
      CLAUDOMATOR_AGENT_SLOTS      = var.agent_slots
      CLAUDOMATOR_DATA_DIR         = "/tmp/claudomator"
      CLAUDOMATOR_LOG_LEVEL        = "INFO"
      # Story activities run git in temporary clones under /tmp; git wants a writable home, and
      # /tmp is the only writable directory of a Lambda.
      HOME = "/tmp"
    }
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.worker.name
  }

  depends_on = [aws_iam_role_policy_attachment.execution_logs]
}

# ---- The role Temporal assumes to invoke the function ----------------------------------------------

data "aws_iam_policy_document" "temporal_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = var.temporal_principal_arns
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "temporal_invoke" {
  name                 = "${var.function_name}-temporal-invoke"
  description          = "Assumed by Temporal to invoke the claudomator orchestration function when its task queue has work."
  assume_role_policy   = data.aws_iam_policy_document.temporal_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "temporal_invoke" {
  statement {
    actions = ["lambda:InvokeFunction", "lambda:GetFunction"]
    # The function and every published version of it: older builds' versions stay invokable for
    # the workflows pinned to them, and a new build needs no IAM change.
    resources = [aws_lambda_function.orchestration.arn, "${aws_lambda_function.orchestration.arn}:*"]
  }
}

resource "aws_iam_role_policy" "temporal_invoke" {
  name   = "invoke-${var.function_name}"
  role   = aws_iam_role.temporal_invoke.id
  policy = data.aws_iam_policy_document.temporal_invoke.json
}

# ---- The worker deployment version's compute config ------------------------------------------------

# Temporal has no Terraform resource for worker deployment versions: the temporal CLI registers
# the version <deployment_name>/<build_id> with the published function version, the invocation
# role and the external id (created, or its compute config updated). Runs again whenever one of
# them changes. It does not make the version current.
resource "terraform_data" "worker_deployment_version" {
  count = var.register_version ? 1 : 0

  triggers_replace = [
    var.deployment_name,
    var.build_id,
    aws_lambda_function.orchestration.qualified_arn,
    aws_iam_role.temporal_invoke.arn,
    sha256(var.external_id),
  ]

  provisioner "local-exec" {
    command = "${path.module}/worker-version.sh register"
    environment = {
      TEMPORAL_ADDRESS   = var.temporal_address
      TEMPORAL_NAMESPACE = var.temporal_namespace
      DEPLOYMENT_NAME    = var.deployment_name
      BUILD_ID           = var.build_id
      FUNCTION_ARN       = aws_lambda_function.orchestration.qualified_arn
      INVOKE_ROLE_ARN    = aws_iam_role.temporal_invoke.arn
      EXTERNAL_ID        = var.external_id
    }
  }

  depends_on = [aws_iam_role_policy.temporal_invoke]
}
