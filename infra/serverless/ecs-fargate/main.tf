locals {
  name = "claudomator-agents"
  environment = {
    TEMPORAL_ADDRESS             = var.temporal_address
    TEMPORAL_NAMESPACE           = var.temporal_namespace
    CLAUDOMATOR_TASK_QUEUE       = "claudomator"
    CLAUDOMATOR_AGENT_TASK_QUEUE = "claudomator-agents"
    CLAUDOMATOR_DATA_DIR         = "/var/lib/claudomator"
    CLAUDOMATOR_DEFAULT_TIMEOUT  = var.run_timeout
    # Only what a stop outside ECS's control leaves (Spot reclaim, platform retirement): Fargate
    # sends SIGKILL 120 s after SIGTERM, so running agents are cancelled with their session
    # checkpointed before that, and resume on another host. ECS's own stops wait for the runs.
    CLAUDOMATOR_SHUTDOWN_GRACE = "100s"
    CLAUDOMATOR_AGENT_SLOTS    = var.agent_slots
    CLAUDOMATOR_AGENT_UID      = "10001"
    CLAUDOMATOR_AGENT_GID      = "10001"
    CLAUDOMATOR_HEALTH_PORT    = "8081"
    CLAUDOMATOR_METRICS_PORT   = "9464"
    CLAUDOMATOR_LOG_LEVEL      = "INFO"
  }
}

resource "aws_ecs_cluster" "agents" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "agents" {
  name              = "/ecs/${local.name}"
  retention_in_days = 30
}

data "aws_iam_policy_document" "ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# ECS itself: pulls the image, writes logs, reads the secrets into the container's environment.
resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "read_secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.secret_arns)
  }
}

resource "aws_iam_role_policy" "read_secrets" {
  name   = "read-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_secrets.json
}

# The task's own role: no AWS permissions at all. Task protection goes through the ECS agent
# endpoint inside the task (ECS_AGENT_URI), which needs none; agents get no AWS credentials.
resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_security_group" "agents" {
  name        = local.name
  description = "claudomator agent hosts: no inbound; outbound to public HTTPS, SSH, Temporal Cloud and the database"
  vpc_id      = var.vpc_id

  egress {
    description = "model APIs, git hosts, package registries"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "git over ssh"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "Temporal Cloud gRPC"
    from_port   = 7233
    to_port     = 7233
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "claudomator's Postgres"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [var.database_cidr]
  }
}

resource "aws_ecs_task_definition" "agents" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 2048
  memory                   = 8192
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  # Sandboxes live on the task's ephemeral storage: a task that ends takes them along, so a resume
  # after it starts the run afresh on another host (CLAUDOMATOR_HOST_SCHEDULE_TIMEOUT).
  ephemeral_storage {
    size_in_gib = 200
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name      = "worker"
      image     = var.image
      command   = ["worker", "--role", "agents"]
      essential = true
      # Root only to start agent CLIs as the image's `agent` user (CLAUDOMATOR_AGENT_UID); Fargate
      # keeps Docker's default capabilities and adds only SYS_PTRACE (reading the agents' environ).
      user = "0"
      linuxParameters = {
        capabilities = { add = ["SYS_PTRACE"] }
      }
      # The most Fargate allows between SIGTERM and SIGKILL.
      stopTimeout = 120
      environment = [for k, v in local.environment : { name = k, value = v }]
      secrets     = [for k, arn in var.secret_arns : { name = k, valueFrom = arn }]
      portMappings = [
        { containerPort = 8081, protocol = "tcp" },
        { containerPort = 9464, protocol = "tcp" },
      ]
      # Liveness only: /readyz turns 503 while the host drains, and ECS would replace it mid-run.
      healthCheck = {
        command     = ["CMD", "node", "-e", "fetch('http://127.0.0.1:8081/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
        interval    = 15
        timeout     = 5
        retries     = 4
        startPeriod = 60
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.agents.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "agents"
        }
      }
    }
  ])
}

resource "aws_ecs_service" "agents" {
  name            = local.name
  cluster         = aws_ecs_cluster.agents.id
  task_definition = aws_ecs_task_definition.agents.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  # A new release starts new hosts first; old ones stop only when their protection is dropped (idle).
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.agents.id]
    assign_public_ip = false
  }
}
