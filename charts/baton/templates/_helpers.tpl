{{/* Name of the chart, overridable. */}}
{{- define "baton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, with "-baton" unless it already says baton. */}}
{{- define "baton.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "baton.controllerName" -}}{{ include "baton.fullname" . }}-controller{{- end }}
{{- define "baton.agentName" -}}{{ include "baton.fullname" . }}-agent{{- end }}

{{/* Labels every object carries. */}}
{{- define "baton.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "baton.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: baton
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component ("controller" or "agent"); never change across upgrades. */}}
{{- define "baton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "baton.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "baton.componentLabels" -}}
{{ include "baton.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* repository:tag or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "baton.image" -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ default .root.Chart.AppVersion .image.tag }}
{{- end -}}
{{- end }}

{{/*
Container args from a `config` map: each key is a flag's name in camelCase (rebootDays ->
--reboot-days); a list repeats the flag; null leaves the process's default.
*/}}
{{- define "baton.flags" -}}
{{- $args := list }}
{{- range $key, $value := . }}
{{- if kindIs "slice" $value }}
{{- range $value }}{{ $args = append $args (printf "--%s=%v" (kebabcase $key) .) }}{{ end }}
{{- else if not (kindIs "invalid" $value) }}
{{- $args = append $args (printf "--%s=%v" (kebabcase $key) $value) }}
{{- end }}
{{- end }}
{{- if $args }}{{ toYaml $args }}{{ end }}
{{- end }}

{{/* The agent needs a privileged pod when it runs a command in the host's mount namespace. */}}
{{- define "baton.agentPrivileged" -}}
{{- if or (eq .Values.agent.reboot.method "command") .Values.agent.sentinel.command -}}true{{- end -}}
{{- end }}

{{/* Where the sentinel's host directory appears inside the agent container. */}}
{{- define "baton.sentinelHostDir" -}}{{ dir .Values.agent.sentinel.file }}{{- end }}
{{- define "baton.sentinelMountPath" -}}/host{{ dir .Values.agent.sentinel.file }}{{- end }}

{{/* PromQL matchers of this installation's controller series. */}}
{{- define "baton.promSelector" -}}
{{- default (printf "namespace=%q" .Release.Namespace) .Values.prometheusRule.selector -}}
{{- end }}
