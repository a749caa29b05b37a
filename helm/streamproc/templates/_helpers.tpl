{{/* Names, labels and the pieces every role's pod shares. */}}

{{- define "streamproc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "streamproc.fullname" -}}
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

{{/* The roles in start order; stateful ones run as StatefulSets with a volume per pod. */}}
{{- define "streamproc.roleNames" -}}ingest aggregations s3 opensearch warehouse eventbridge{{- end -}}
{{- define "streamproc.statefulRoles" -}}ingest aggregations{{- end -}}

{{/* The name of a role's objects: dict "root" $ "role" name. Kept short enough for pod names. */}}
{{- define "streamproc.roleFullname" -}}
{{- printf "%s-%s" (include "streamproc.fullname" .root | trunc 40 | trimSuffix "-") .role -}}
{{- end -}}

{{- define "streamproc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streamproc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "streamproc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "streamproc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* dict "root" $ "role" name */}}
{{- define "streamproc.roleSelectorLabels" -}}
{{ include "streamproc.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "streamproc.roleLabels" -}}
{{ include "streamproc.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "streamproc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "streamproc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "streamproc.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "streamproc.configMapName" -}}
{{- default (printf "%s-config" (include "streamproc.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{/* What rolls the pods: the pipelines file's content, or the checksum given for an existing ConfigMap. */}}
{{- define "streamproc.configChecksum" -}}
{{- if .Values.config.existingConfigMap -}}
{{- printf "%s/%s" .Values.config.existingConfigMap .Values.config.existingConfigMapChecksum | sha256sum -}}
{{- else -}}
{{- .Values.config.pipelines | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* Checks that stop rendering with a message naming the value to set. */}}
{{- define "streamproc.validate" -}}
{{- if not .Values.redactionKey.existingSecret -}}
{{- fail "redactionKey.existingSecret is required: the name of a Secret holding the HASH/TOKENIZE redaction key (at least 32 bytes), e.g. kubectl create secret generic streamproc-redaction --from-literal=redaction-key=\"$(openssl rand -hex 32)\" and --set redactionKey.existingSecret=streamproc-redaction. The chart never stores the key itself." -}}
{{- end -}}
{{- if not .Values.kafka.bootstrap -}}
{{- fail "kafka.bootstrap is required: host:port[,host:port] of the Kafka brokers (STREAMPROC_KAFKA_BOOTSTRAP)" -}}
{{- end -}}
{{- if and .Values.roles.opensearch.enabled (not .Values.opensearch.url) -}}
{{- fail "roles.opensearch.enabled needs opensearch.url (http(s)://host:port of the cluster)" -}}
{{- end -}}
{{- if and .Values.roles.warehouse.enabled (not .Values.warehouse.existingSecret) -}}
{{- fail "roles.warehouse.enabled needs warehouse.existingSecret: a Secret holding the DSN under warehouse.dsnKey" -}}
{{- end -}}
{{- if and (hasPrefix "SASL" .Values.kafka.securityProtocol) (not .Values.kafka.sasl.existingSecret) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.existingSecret (a Secret with the SASL user name and password)" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}

{{/* A secretKeyRef env entry: dict "name" env "secret" secret "key" key */}}
{{- define "streamproc.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
{{- end -}}

{{/* The container env of a role (dict "root" $ "role" name "spec" roleValues): the chart's
settings, overridden by `env` and then by the role's `env`; secrets as references only. */}}
{{- define "streamproc.env" -}}
{{- $v := .root.Values -}}
{{- $plain := dict
  "STREAMPROC_KAFKA_BOOTSTRAP" $v.kafka.bootstrap
  "STREAMPROC_TOPIC_PREFIX" $v.topicPrefix
  "STREAMPROC_SOURCE_TOPIC_PREFIX" $v.sourceTopicPrefix
  "STREAMPROC_APP_ID" $v.appId
  "STREAMPROC_PARTITIONS" $v.partitions
  "STREAMPROC_REPLICATION_FACTOR" $v.replicationFactor
  "STREAMPROC_PIPELINES" (printf "/etc/streamproc/config/%s" $v.config.key)
  "STREAMPROC_DATADIR" "/var/lib/streamproc"
  "STREAMPROC_WEB_PORT" $v.webPort
  "STREAMPROC_KAFKA_SECURITY__PROTOCOL" $v.kafka.securityProtocol
-}}
{{- if ne .role "replay" -}}
{{- $_ := set $plain "STREAMPROC_ROLES" .role -}}
{{- end -}}
{{- if hasPrefix "SASL" $v.kafka.securityProtocol -}}
{{- $_ := set $plain "STREAMPROC_KAFKA_SECURITY__SASL_MECHANISM" $v.kafka.sasl.mechanism -}}
{{- end -}}
{{- if $v.kafka.tls.existingSecret -}}
{{- range $setting, $file := dict "SSL_CA_FILE" $v.kafka.tls.caFile "SSL_CERT_FILE" $v.kafka.tls.certFile "SSL_KEY_FILE" $v.kafka.tls.keyFile -}}
{{- if $file -}}
{{- $_ := set $plain (printf "STREAMPROC_KAFKA_SECURITY__%s" $setting) (printf "/etc/streamproc/kafka-tls/%s" $file) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if has .role (list "s3" "eventbridge" "replay") -}}
{{- $_ := set $plain "STREAMPROC_AWS__REGION" $v.aws.region -}}
{{- if $v.aws.endpointUrl -}}
{{- $_ := set $plain "STREAMPROC_AWS__ENDPOINT_URL" $v.aws.endpointUrl -}}
{{- end -}}
{{- end -}}
{{- /* aggregations writes its results to the warehouse and OpenSearch when they are configured */ -}}
{{- $opensearch := or (eq .role "opensearch") (and (eq .role "aggregations") $v.opensearch.url) -}}
{{- $warehouse := or (eq .role "warehouse") (eq .role "aggregations") -}}
{{- if $opensearch -}}
{{- $_ := set $plain "STREAMPROC_OPENSEARCH__URL" $v.opensearch.url -}}
{{- $_ := set $plain "STREAMPROC_OPENSEARCH__VERIFY_CERTS" $v.opensearch.verifyCerts -}}
{{- if $v.opensearch.username -}}
{{- $_ := set $plain "STREAMPROC_OPENSEARCH__USERNAME" $v.opensearch.username -}}
{{- end -}}
{{- end -}}
{{- $merged := mustMergeOverwrite $plain (deepCopy $v.env) (deepCopy (.spec.env | default dict)) -}}
{{- range $name := keys $merged | sortAlpha }}
- name: {{ $name }}
  value: {{ index $merged $name | toString | quote }}
{{- end }}
{{- if eq .role "ingest" }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_REDACTION__KEY" "secret" $v.redactionKey.existingSecret "key" $v.redactionKey.key) }}
{{- end }}
{{- if and $v.schemaRegistry.existingSecret (has .role (list "ingest" "replay")) }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_SCHEMA_REGISTRY_URL" "secret" $v.schemaRegistry.existingSecret "key" $v.schemaRegistry.key) }}
{{- end }}
{{- if hasPrefix "SASL" $v.kafka.securityProtocol }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_KAFKA_SECURITY__SASL_USERNAME" "secret" $v.kafka.sasl.existingSecret "key" $v.kafka.sasl.usernameKey) }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_KAFKA_SECURITY__SASL_PASSWORD" "secret" $v.kafka.sasl.existingSecret "key" $v.kafka.sasl.passwordKey) }}
{{- end }}
{{- if and $v.aws.existingSecret (has .role (list "s3" "eventbridge" "replay")) }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_AWS__ACCESS_KEY_ID" "secret" $v.aws.existingSecret "key" $v.aws.accessKeyIdKey) }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_AWS__SECRET_ACCESS_KEY" "secret" $v.aws.existingSecret "key" $v.aws.secretAccessKeyKey) }}
{{- end }}
{{- if and $v.opensearch.existingSecret $opensearch }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_OPENSEARCH__PASSWORD" "secret" $v.opensearch.existingSecret "key" $v.opensearch.passwordKey) }}
{{- end }}
{{- if and $v.warehouse.existingSecret $warehouse }}
{{ include "streamproc.secretEnv" (dict "name" "STREAMPROC_WAREHOUSE__DSN" "secret" $v.warehouse.existingSecret "key" $v.warehouse.dsnKey) }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .spec.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The volumes every pod mounts besides its data directory. */}}
{{- define "streamproc.volumeMounts" -}}
- name: data
  mountPath: /var/lib/streamproc
- name: tmp
  mountPath: /tmp
- name: config
  mountPath: /etc/streamproc/config
  readOnly: true
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/streamproc/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "streamproc.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
- name: config
  configMap:
    name: {{ include "streamproc.configMapName" . }}
    items:
      - key: {{ .Values.config.key }}
        path: {{ .Values.config.key }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}
