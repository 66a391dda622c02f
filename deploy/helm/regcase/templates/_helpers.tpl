{{/* Names and labels shared by every template. */}}

{{- define "regcase.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "regcase.fullname" -}}
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

{{- define "regcase.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release of the application: the image tag (or the chart's appVersion). */}}
{{- define "regcase.version" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "regcase.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcase.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "regcase.labels" -}}
helm.sh/chart: {{ include "regcase.chart" . }}
{{ include "regcase.selectorLabels" . }}
app.kubernetes.io/version: {{ include "regcase.version" . | trunc 63 | quote }}
app.kubernetes.io/part-of: regcase
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of one component: (dict "ctx" $ "component" "api") */}}
{{- define "regcase.componentLabels" -}}
{{ include "regcase.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "regcase.componentSelector" -}}
{{ include "regcase.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image reference: repository@digest when a digest is given, else repository:tag. */}}
{{- define "regcase.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- $tag := include "regcase.version" . -}}
{{- if or (eq $tag "latest") (eq $tag "") -}}
{{- fail "image.tag must be an immutable version (or set image.digest); \"latest\" is refused" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "regcase.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "regcase.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "regcase.secretName" -}}
{{- required "secrets.existingSecret is required: the chart never renders secret values" .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Secret volume with only the given keys: (dict "ctx" $ "keys" (list "databaseUrlApi" …)) */}}
{{- define "regcase.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "regcase.secretName" .ctx }}
    defaultMode: 0440
    items:
    {{- range .keys }}
      - key: {{ index $.ctx.Values.secrets.keys . }}
        path: {{ index $.ctx.Values.secrets.keys . }}
    {{- end }}
{{- end -}}

{{/* Writable paths on a read-only root: /tmp and /data (the image's VOLUME) in memory. */}}
{{- define "regcase.scratchVolumes" -}}
- name: tmp
  # On the node's disk, not in memory: it also spools evidence uploads (already encrypted)
  # until the whole file has arrived, about five concurrent files of the 25 MiB maximum.
  emptyDir:
    sizeLimit: 128Mi
- name: data
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- end -}}

{{- define "regcase.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
- name: secrets
  mountPath: /run/secrets/regcase
  readOnly: true
{{- end -}}

{{/* Go runtime sized from the container's own limits. */}}
{{- define "regcase.goRuntimeEnv" -}}
- name: GOMAXPROCS
  valueFrom:
    resourceFieldRef:
      resource: limits.cpu
      divisor: "1"
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
      divisor: "1"
{{- end -}}

{{- define "regcase.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
automountServiceAccountToken: false
serviceAccountName: {{ include "regcase.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* topologySpreadConstraints for one component */}}
{{- define "regcase.topologySpread" -}}
topologySpreadConstraints:
  - maxSkew: {{ .ctx.Values.topologySpread.maxSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ .ctx.Values.topologySpread.zone }}
    labelSelector:
      matchLabels:
        {{- include "regcase.componentSelector" . | nindent 8 }}
  - maxSkew: {{ .ctx.Values.topologySpread.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ .ctx.Values.topologySpread.hostname }}
    labelSelector:
      matchLabels:
        {{- include "regcase.componentSelector" . | nindent 8 }}
{{- end -}}

{{/* Egress every component needs: cluster DNS and PostgreSQL. */}}
{{- define "regcase.egressBase" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
- to:
    {{- toYaml .Values.networkPolicy.database.to | nindent 4 }}
  ports:
    - {port: {{ .Values.networkPolicy.database.port }}, protocol: TCP}
{{- end -}}

{{/* Egress to the OpenTelemetry collector (api, worker) when tracing is on. */}}
{{- define "regcase.tracingEgress" -}}
{{- $t := .Values.tracing -}}
{{- if $t.endpoint }}
{{- if not $t.collector.to }}
{{- fail "tracing.collector.to is required when tracing.endpoint is set and the NetworkPolicy is on: where the collector is (NetworkPolicyPeer list)" }}
{{- end }}
- to:
    {{- toYaml $t.collector.to | nindent 4 }}
  ports:
    - {port: {{ $t.collector.port }}, protocol: TCP}
{{- end }}
{{- end }}

{{/* keys plus those of optional whose secrets.keys entry is set, as a JSON array (fromJsonArray). */}}
{{- define "regcase.optionalKeys" -}}
{{- $keys := .keys -}}
{{- range .optional -}}
{{- if index $.ctx.Values.secrets.keys . -}}
{{- $keys = append $keys . -}}
{{- end -}}
{{- end -}}
{{- toJson $keys -}}
{{- end -}}
