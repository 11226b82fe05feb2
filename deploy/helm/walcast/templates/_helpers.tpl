{{/*
Names, labels and small shared fragments. Resource names are at most 63 characters.
*/}}

{{/* Chart name. */}}
{{- define "walcast.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name prefix: <release>-walcast, or the release name when it already contains the chart name. */}}
{{- define "walcast.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the ingester's resources. */}}
{{- define "walcast.ingester.fullname" -}}
{{- printf "%s-ingester" (include "walcast.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the gateway's resources. */}}
{{- define "walcast.gateway.fullname" -}}
{{- printf "%s-gateway" (include "walcast.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* chart label value: name-version. */}}
{{- define "walcast.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "walcast.labels" -}}
helm.sh/chart: {{ include "walcast.chart" . }}
app.kubernetes.io/name: {{ include "walcast.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: walcast
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "walcast.selectorLabels" -}}
app.kubernetes.io/name: {{ include "walcast.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of one component's resources. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "walcast.componentLabels" -}}
{{ include "walcast.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference. Call with (dict "root" $ "image" .Values.gateway.image). */}}
{{- define "walcast.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding credentials: the existing one, or the chart's. */}}
{{- define "walcast.secretName" -}}
{{- default (include "walcast.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Name of the ServiceAccount the pods use. */}}
{{- define "walcast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "walcast.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Environment variable read from the credentials Secret.
Call with (dict "root" $ "name" "REDIS_URL" "key" .Values.secrets.keys.redisUrl "optional" true).
*/}}
{{- define "walcast.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "walcast.secretName" .root }}
      key: {{ .key }}
      optional: {{ .optional }}
{{- end -}}

{{/* Pod annotations that roll the pods when their configuration changes. */}}
{{- define "walcast.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/*
Fails the render on what values.schema.json cannot express: a metrics port equal to the port it
is split from (the services would refuse to start).
*/}}
{{- define "walcast.validateListeners" -}}
{{- with .Values.gateway.metricsPort -}}
{{- if eq (int .) (int $.Values.gateway.port) -}}
{{- fail "gateway.metricsPort must differ from gateway.port (leave it empty to serve /metrics on gateway.port)" -}}
{{- end -}}
{{- end -}}
{{- with .Values.ingester.metricsPort -}}
{{- if eq (int .) (int $.Values.ingester.healthPort) -}}
{{- fail "ingester.metricsPort must differ from ingester.healthPort (leave it empty to serve /metrics on ingester.healthPort)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
