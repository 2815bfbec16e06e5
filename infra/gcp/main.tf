# Pilothouse on Google Cloud: one Cloud Run function (2nd gen) per entry point of main.py, the
# Firestore database (the store), Pub/Sub topics with push subscriptions and dead-letter topics
# (the queues), Cloud Scheduler jobs for the sweeps, a CMEK-encrypted bucket (blobs, backups), an
# API gateway for the HTTP routes, and one service account per grant set (operations.tf).
#
#   make gcp-package && terraform -chdir=infra/gcp init && terraform -chdir=infra/gcp apply -var project=<id>

data "google_project" "this" {}

locals {
  functions = merge(
    { for k, v in local.http_functions : k => merge(v, { kind = "http" }) },
    { for k, v in local.queue_functions : k => merge(v, { kind = "queue" }) },
    { for k, v in local.schedule_functions : k => merge(v, { kind = "schedule" }) },
  )
  pubsub_agent  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  storage_agent = "serviceAccount:service-${data.google_project.this.number}@gs-project-accounts.iam.gserviceaccount.com"
  firestore_db  = "projects/${var.project}/databases/(default)"
  # the store's collection (settings.firestore_collection): its TTL policy and index exemptions below
  firestore_collection = "pilothouse"
  env = {
    PILOTHOUSE_STORE       = "firestore"
    PILOTHOUSE_QUEUE       = "pubsub"
    PILOTHOUSE_BLOBS       = "gcs"
    PILOTHOUSE_BUCKET_NAME = google_storage_bucket.blobs.name
    # the project of the adapters (settings.gcp_project; the SDKs read GOOGLE_CLOUD_PROJECT)
    PILOTHOUSE_GCP_PROJECT          = var.project
    GOOGLE_CLOUD_PROJECT            = var.project
    PILOTHOUSE_FIRESTORE_DATABASE   = google_firestore_database.store.name
    PILOTHOUSE_FIRESTORE_COLLECTION = local.firestore_collection
    # the source is read-only: what the embedded defaults would write goes to /tmp (in memory)
    PILOTHOUSE_DATA_DIR = "/tmp/pilothouse"
    # envelope encryption wraps data keys with the master key (Cloud KMS Encrypt/Decrypt); secret
    # values live in Secret Manager under the <name>- prefix the IAM condition below names
    PILOTHOUSE_KEY_PROVIDER         = "gcpkms"
    PILOTHOUSE_GCP_KMS_KEY_NAME     = google_kms_crypto_key.master.id
    PILOTHOUSE_SECRET_BACKEND       = "gcp-secret-manager"
    PILOTHOUSE_CLOUD_SECRETS_PREFIX = "${var.name}-"
  }
}

# -- keys: CMEK for the bucket, the topics and the database; the master key of envelope encryption --
resource "google_kms_key_ring" "pilothouse" {
  name     = "${var.name}-keys"
  location = var.region
}

resource "google_kms_crypto_key" "data" {
  name            = "${var.name}-data"
  key_ring        = google_kms_key_ring.pilothouse.id
  rotation_period = "7776000s" # 90 days
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key" "master" {
  name            = "${var.name}-master"
  key_ring        = google_kms_key_ring.pilothouse.id
  rotation_period = "7776000s"
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "data_for_storage" {
  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.storage_agent
}

resource "google_kms_crypto_key_iam_member" "data_for_pubsub" {
  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_agent
}

resource "google_project_service_identity" "firestore" {
  provider = google-beta
  project  = var.project
  service  = "firestore.googleapis.com"
}

resource "google_kms_crypto_key_iam_member" "data_for_firestore" {
  crypto_key_id = google_kms_crypto_key.data.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${google_project_service_identity.firestore.email}"
}

# -- the store -------------------------------------------------------------------------------------
resource "google_firestore_database" "store" {
  provider                          = google-beta
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  cmek_config {
    kms_key_name = google_kms_crypto_key.data.id
  }
  depends_on = [google_kms_crypto_key_iam_member.data_for_firestore]
}

# Expired items (store/firestore.py writes ``expire_time`` beside ``expires_at``) are deleted by a
# TTL policy within about a day; reads filter them out meanwhile. The TTL field is exempt from
# single-field indexes (a timestamp that grows with time makes an index hot spot; the store
# queries ``expires_at``, never ``expire_time``).
resource "google_firestore_field" "expire_time" {
  project    = var.project
  database   = google_firestore_database.store.name
  collection = local.firestore_collection
  field      = "expire_time"
  ttl_config {}
  index_config {}
}

# ``data`` is an item's JSON text (up to the item limit): never queried, so not indexed (an
# indexed string is capped at 1,500 bytes of index entry and costs a write per index).
resource "google_firestore_field" "data" {
  project    = var.project
  database   = google_firestore_database.store.name
  collection = local.firestore_collection
  field      = "data"
  index_config {}
}

# -- buckets: blobs and backups; the functions' source; the access logs of both --------------------
resource "google_storage_bucket" "logs" {
  #checkov:skip=CKV_GCP_62:this is the access-log bucket itself; logging it into itself would loop
  name                        = "${var.project}-${var.name}-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.data.id
  }
  lifecycle_rule {
    condition {
      age = var.log_retention_days
    }
    action {
      type = "Delete"
    }
  }
  depends_on = [google_kms_crypto_key_iam_member.data_for_storage]
}

resource "google_storage_bucket" "blobs" {
  name                        = "${var.project}-${var.name}-blobs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.data.id
  }
  logging {
    log_bucket = google_storage_bucket.logs.name
  }
  depends_on = [google_kms_crypto_key_iam_member.data_for_storage]
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project}-${var.name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.data.id
  }
  logging {
    log_bucket = google_storage_bucket.logs.name
  }
  depends_on = [google_kms_crypto_key_iam_member.data_for_storage]
}

resource "google_storage_bucket_object" "source" {
  name   = "pilothouse-${filemd5(var.source_archive)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.source_archive
}

# -- queues: a topic each, pushed to its consumer, with a dead-letter topic ----------------------
resource "google_pubsub_topic" "queue" {
  for_each                   = toset(local.queue_topics)
  name                       = each.key
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "604800s"
  depends_on                 = [google_kms_crypto_key_iam_member.data_for_pubsub]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each                   = toset(concat([for t in local.queue_topics : "${t}-dlq"], ["${var.name}-sweeps-dlq"]))
  name                       = each.key
  kms_key_name               = google_kms_crypto_key.data.id
  message_retention_duration = "1209600s"
  depends_on                 = [google_kms_crypto_key_iam_member.data_for_pubsub]
}

# dead letters are kept (14 days) in a pull subscription an operator drains or replays
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = google_pubsub_topic.dead_letter
  name                       = "${each.key}-hold"
  topic                      = each.value.id
  message_retention_duration = "1209600s"
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publish" {
  for_each = google_pubsub_topic.dead_letter
  topic    = each.value.id
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription" "consumer" {
  for_each             = local.queue_functions
  name                 = "${each.value.topic}-${replace(each.key, "_", "-")}"
  topic                = google_pubsub_topic.queue[each.value.topic].id
  ack_deadline_seconds = min(each.value.timeout, 600)
  push_config {
    push_endpoint = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.pusher.email
    }
  }
  # A delayed message (the port's delay_seconds: Pub/Sub has none) pushed before it is due is
  # refused by the function (runtime/gcp_functions.py NotYetDue) and pushed again after this
  # back-off: from 60 s doubling to 600 s, the port's longest delay (900 s) is refused at most 4
  # times. Each refusal is a delivery attempt, so 10 attempts leave every message at least 5 real
  # ones (Pub/Sub's minimum is 5) before it goes to the dead-letter topic.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["${each.value.topic}-dlq"].id
    max_delivery_attempts = 10
  }
  retry_policy {
    minimum_backoff = "60s"
    maximum_backoff = "600s"
  }
  expiration_policy {
    ttl = ""
  }
}

# -- sweeps: Cloud Scheduler publishes to the sweep's topic, pushed to the function ----------------
resource "google_pubsub_topic" "schedule" {
  for_each     = local.schedule_functions
  name         = "${var.name}-schedule-${replace(each.key, "_", "-")}"
  kms_key_name = google_kms_crypto_key.data.id
  depends_on   = [google_kms_crypto_key_iam_member.data_for_pubsub]
}

resource "google_cloud_scheduler_job" "sweep" {
  for_each    = local.schedule_functions
  name        = "${var.name}-${replace(each.key, "_", "-")}"
  description = "${each.key}: ${each.value.expression} (template.yaml)"
  schedule    = each.value.schedule
  time_zone   = "Etc/UTC"
  region      = var.region
  pubsub_target {
    topic_name = google_pubsub_topic.schedule[each.key].id
    data       = base64encode(jsonencode({ schedule = each.key }))
  }
}

resource "google_pubsub_subscription" "sweep" {
  for_each             = local.schedule_functions
  name                 = "${google_pubsub_topic.schedule[each.key].name}-push"
  topic                = google_pubsub_topic.schedule[each.key].id
  ack_deadline_seconds = min(each.value.timeout, 600)
  # a sweep that missed its minute is not worth running late: the next run redoes the work
  message_retention_duration = "600s"
  push_config {
    push_endpoint = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.pusher.email
    }
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter["${var.name}-sweeps-dlq"].id
    max_delivery_attempts = 5
  }
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscribe" {
  for_each = merge(
    { for k, s in google_pubsub_subscription.consumer : k => s.name },
    { for k, s in google_pubsub_subscription.sweep : "sweep-${k}" => s.name },
  )
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# -- the functions ---------------------------------------------------------------------------------
resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:HTTP functions are reached through API Gateway, which is not an internal source, and accept only its account (run.invoker); queue and sweep functions take internal traffic only (Pub/Sub push of this project)
  for_each = local.functions
  name     = "${var.name}-${replace(each.key, "_", "-")}"
  location = var.region

  build_config {
    runtime     = "python312"
    entry_point = each.key
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = "512M"
    timeout_seconds                  = min(each.value.timeout, 3600)
    max_instance_count               = var.max_instances
    max_instance_request_concurrency = 8
    available_cpu                    = "1"
    service_account_email            = google_service_account.fn[each.value.account].email
    # HTTP: through the API gateway (authenticated, run.invoker); the rest: Pub/Sub push, internal
    ingress_settings               = each.value.kind == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    environment_variables          = local.env # the function is its entry_point: no setting names it
  }
}

# -- who may invoke: the gateway the HTTP functions, the push identity the others -----------------
resource "google_service_account" "gateway" {
  account_id   = "${var.name}-gateway"
  display_name = "Pilothouse API gateway: invokes the HTTP functions"
}

resource "google_service_account" "pusher" {
  account_id   = "${var.name}-pusher"
  display_name = "Pilothouse Pub/Sub push: invokes the queue and sweep functions"
}

resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = local.functions
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.kind == "http" ? "serviceAccount:${google_service_account.gateway.email}" : "serviceAccount:${google_service_account.pusher.email}"
}

# Pub/Sub mints the push identity's OIDC tokens
resource "google_service_account_iam_member" "pusher_tokens" {
  service_account_id = google_service_account.pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}
