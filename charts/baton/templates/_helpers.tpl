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
{{- /* The agent runs commands in the host's mount namespace (nsenter): the command method, a sentinel command. */ -}}
{{- define "baton.agentEntersHost" -}}
{{- if or (eq .Values.agent.reboot.method "command") .Values.agent.sentinel.command -}}true{{- end -}}
{{- end }}

{{/* Where the sentinel's host directory appears inside the agent container. */}}
{{- define "baton.sentinelHostDir" -}}{{ dir .Values.agent.sentinel.file }}{{- end }}
{{- define "baton.sentinelMountPath" -}}/host{{ dir .Values.agent.sentinel.file }}{{- end }}

{{/* PromQL matchers of this installation's controller series. */}}
{{- define "baton.promSelector" -}}
{{- default (printf "namespace=%q" .Release.Namespace) .Values.prometheusRule.selector -}}
{{- end }}

{{- /*
The agent's configured labels and taint (agent.config), for the
own-node admission policy: the label keys it may change, the taint keys it owns. A label in a
Kubernetes-reserved namespace (kubernetes.io, k8s.io, node-restriction.kubernetes.io) is refused
here: the policy never lets the agent set one.
*/ -}}
{{- define "baton.agentConfigValue" -}}
{{- $c := .root.Values.agent.config | default dict }}
{{- $v := index $c .key }}
{{- if kindIs "slice" $v }}{{ join "," $v }}{{ else if not (kindIs "invalid" $v) }}{{ toString $v }}{{ end }}
{{- end }}

{{- define "baton.agentLabelKeys" -}}
{{- $keys := list }}
{{- range $flag := list "preRebootNodeLabels" "postRebootNodeLabels" }}
{{- $raw := include "baton.agentConfigValue" (dict "root" $ "key" $flag) }}
{{- range $entry := splitList "," $raw }}
{{- $key := trim (first (splitList "=" $entry)) }}
{{- if $key }}
{{- $prefix := ternary (first (splitList "/" $key)) "" (contains "/" $key) }}
{{- if or (eq $prefix "kubernetes.io") (hasSuffix ".kubernetes.io" $prefix) (eq $prefix "k8s.io") (hasSuffix ".k8s.io" $prefix) }}
{{- fail (printf "agent.config.%s: label %q is in a namespace Kubernetes reserves (%s); the agent's admission policy never lets it set one, so the agent could not work. Use a label of your own domain, e.g. example.com/rebooting=true" $flag $key $prefix) }}
{{- end }}
{{- $keys = append $keys $key }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson (uniq $keys) }}
{{- end }}

{{- define "baton.agentTaintKeys" -}}
{{- $keys := list "baton.dev/rebooting" }}
{{- $raw := include "baton.agentConfigValue" (dict "root" . "key" "preRebootTaint") }}
{{- if $raw }}{{ $keys = append $keys (trim (first (splitList ":" (first (splitList "=" $raw))))) }}{{ end }}
{{- $prefer := include "baton.agentConfigValue" (dict "root" . "key" "preferNoScheduleTaint") }}
{{- if $prefer }}{{ $keys = append $keys (trim $prefer) }}{{ end }}
{{- toJson (uniq $keys) }}
{{- end }}

{{- /* A CEL list literal of strings from a JSON array: ['a', 'b']. */ -}}
{{- define "baton.celList" -}}
[{{- range $i, $s := . }}{{ if $i }}, {{ end }}'{{ $s }}'{{ end }}]
{{- end }}

{{- /*
Every field of a Node's status but its conditions, for "unchanged" checks in the node policies:
a forged address, capacity or bootID is as harmful as a forged Ready. The fields every
Kubernetes the chart supports (>= 1.30) has: a field the API server's schema lacks would make the
policy fail to compile (status.features, 1.31+, is informational and left out).
*/ -}}
{{- define "baton.nodeStatusUnchanged" -}}
{{- $checks := list }}
{{- range $f := list "addresses" "allocatable" "capacity" "config" "daemonEndpoints" "images" "nodeInfo" "phase" "runtimeHandlers" "volumesAttached" "volumesInUse" }}
{{- $checks = append $checks (printf "(has(object.status.%s) == has(oldObject.status.%s) && (!has(object.status.%s) || object.status.%s == oldObject.status.%s))" $f $f $f $f $f) }}
{{- end }}
{{- join " && " $checks }}
{{- end }}
