variable "project" {
  description = "The Google Cloud project to deploy to."
  type        = string
}

variable "region" {
  description = "The region of the functions, the topics' storage, the bucket and the scheduler jobs."
  type        = string
  default     = "europe-west1"
}

variable "firestore_location" {
  description = "Where the Firestore database lives (a region or a multi-region such as eur3)."
  type        = string
  default     = "eur3"
}

variable "name" {
  description = "The prefix of every resource's name."
  type        = string
  default     = "pilothouse"
}

variable "source_archive" {
  description = "The functions' source (a zip made by `make gcp-package`: main.py, requirements.txt, functions/, pilothouse/)."
  type        = string
  default     = "../../build/gcp.zip"
}

variable "max_instances" {
  description = "The most instances one function scales to."
  type        = number
  default     = 20
}

variable "log_retention_days" {
  description = "Days the access logs of the bucket are kept."
  type        = number
  default     = 30
}
