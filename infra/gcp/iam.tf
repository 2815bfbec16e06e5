# Least privilege: one service account per grant set (operations.tf), each role on the one
# resource it is for. Firestore's roles are project roles, narrowed by a condition to the database.

resource "google_service_account" "fn" {
  for_each     = local.service_accounts
  account_id   = each.key
  display_name = "Pilothouse functions with grants ${each.key}"
}

resource "google_project_iam_member" "firestore" {
  for_each = { for k, v in local.service_accounts : k => v if v.firestore_role != "" }
  project  = var.project
  role     = each.value.firestore_role
  member   = "serviceAccount:${google_service_account.fn[each.key].email}"
  condition {
    title      = "pilothouse-database"
    expression = "resource.name.startsWith(\"${local.firestore_db}\")"
  }
}

locals {
  topic_grants = merge([
    for k, v in local.service_accounts : { for t in v.topics : "${k}/${t}" => { account = k, topic = t } }
  ]...)
  # envelope encryption (backups, sealed secrets and channel URLs) wraps data keys with the master key
  master_key_users = { for k, v in local.service_accounts : k => v if v.backups || v.secrets || contains(split("-", k), "write") }
}

resource "google_pubsub_topic_iam_member" "send" {
  for_each = local.topic_grants
  topic    = google_pubsub_topic.queue[each.value.topic].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.fn[each.value.account].email}"
}

resource "google_storage_bucket_iam_member" "backups" {
  for_each = { for k, v in local.service_accounts : k => v if v.backups }
  bucket   = google_storage_bucket.blobs.name
  role     = "roles/storage.objectUser"
  member   = "serviceAccount:${google_service_account.fn[each.key].email}"
}

resource "google_kms_crypto_key_iam_member" "master" {
  for_each      = local.master_key_users
  crypto_key_id = google_kms_crypto_key.master.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${google_service_account.fn[each.key].email}"
}

# Secret values live in Secret Manager under the <name>- prefix, and only there: a custom role with
# exactly the calls of secret_backend=gcp-secret-manager (create a secret, add, access and destroy
# its versions, delete it), conditioned on the prefix. (Creating a secret is checked against the
# project, where the condition names no secret: an operator creates each secret's container once,
# or widens this one grant knowingly.)
resource "google_project_iam_custom_role" "secrets" {
  project     = var.project
  role_id     = "${replace(var.name, "-", "_")}_secret_values"
  title       = "Pilothouse secret values"
  description = "Write, read, destroy and delete the values of Pilothouse's secrets"
  permissions = [
    "secretmanager.secrets.create",
    "secretmanager.secrets.delete",
    "secretmanager.secrets.get",
    "secretmanager.versions.add",
    "secretmanager.versions.access",
    "secretmanager.versions.destroy",
    "secretmanager.versions.get",
  ]
}

resource "google_project_iam_member" "secrets" {
  for_each = { for k, v in local.service_accounts : k => v if v.secrets }
  project  = var.project
  role     = google_project_iam_custom_role.secrets.id
  member   = "serviceAccount:${google_service_account.fn[each.key].email}"
  condition {
    title      = "pilothouse-secrets"
    expression = "resource.name.startsWith(\"projects/${data.google_project.this.number}/secrets/${var.name}-\")"
  }
}
