{{/* Labels on every object; selectors use the component label plus the instance. */}}
{{- define "claudomator.labels" -}}
app.kubernetes.io/name: claudomator
app.kubernetes.io/part-of: claudomator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "claudomator.selector" -}}
app.kubernetes.io/name: claudomator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The build id as a DNS label (mode deployment names one Deployment per build). */}}
{{- define "claudomator.buildSuffix" -}}
{{- regexReplaceAll "[^a-z0-9]" (lower .Values.image.tag) "-" -}}
{{- end }}

{{- define "claudomator.orchestrationName" -}}
{{- if eq .Values.orchestration.mode "deployment" -}}
{{ printf "%s-orchestration-%s" .Release.Name (include "claudomator.buildSuffix" .) }}
{{- else -}}
{{ printf "%s-orchestration" .Release.Name }}
{{- end }}
{{- end }}

{{/* Probes on the worker's health port. */}}
{{- define "claudomator.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: {{ .startupPeriod }}
  failureThreshold: {{ .startupFailures }}
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 4
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 10
  timeoutSeconds: 5
{{- end }}

{{/* Secrets every worker gets. */}}
{{- define "claudomator.secretEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.workers }}
      key: DATABASE_URL
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.workers }}
      key: TEMPORAL_API_KEY
      optional: true
{{- end }}

{{/* The Temporal trigger of a ScaledObject. */}}
{{- define "claudomator.trigger" -}}
- type: temporal
  metadata:
    endpoint: {{ .root.Values.temporal.address | quote }}
    namespace: {{ .namespace | quote }}
    taskQueue: {{ .taskQueue | quote }}
    queueTypes: {{ .queueTypes | quote }}
    targetQueueSize: {{ .targetQueueSize | quote }}
    activationTargetQueueSize: '0'
    {{- if .versioned }}
    workerDeploymentName: {{ .deploymentName | quote }}
    workerDeploymentBuildId: {{ .buildId | quote }}
    {{- end }}
  {{- if .root.Values.secrets.keda }}
  authenticationRef:
    name: {{ .root.Release.Name }}-keda
  {{- end }}
{{- end }}
