# The HTTP API: an API Gateway whose OpenAPI 2.0 document routes each method and route of
# operations.tf to its function, keeping the request's path (main.py serves the same routes).

locals {
  routes = distinct([for k, v in local.http_functions : v.route])
  gateway_paths = {
    for route in local.routes : route => {
      for k, v in local.http_functions : lower(v.method) => {
        operationId = k
        parameters = [
          for p in regexall("{([^}]+)}", route) : { name = p[0], in = "path", required = true, type = "string" }
        ]
        x-google-backend = {
          address          = google_cloudfunctions2_function.fn[k].service_config[0].uri
          path_translation = "APPEND_PATH_TO_ADDRESS"
          deadline         = min(v.timeout, 300)
        }
        responses = { default = { description = "the function's answer (JSON, or RFC 9457 problem+json)" } }
      } if v.route == route
    }
  }
  gateway_spec = {
    swagger  = "2.0"
    info     = { title = "${var.name}-api", version = "1.0.0" }
    schemes  = ["https"]
    produces = ["application/json"]
    paths    = local.gateway_paths
  }
}

resource "google_api_gateway_api" "api" {
  provider = google-beta
  api_id   = "${var.name}-api"
}

resource "google_api_gateway_api_config" "api" {
  provider             = google-beta
  api                  = google_api_gateway_api.api.api_id
  api_config_id_prefix = "${var.name}-"
  openapi_documents {
    document {
      path     = "openapi.yaml"
      contents = base64encode(yamlencode(local.gateway_spec))
    }
  }
  gateway_config {
    backend_config {
      google_service_account = google_service_account.gateway.email
    }
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_api_gateway_gateway" "api" {
  provider   = google-beta
  gateway_id = "${var.name}-gateway"
  api_config = google_api_gateway_api_config.api.id
  region     = var.region
}

output "api_url" {
  value = "https://${google_api_gateway_gateway.api.default_hostname}"
}
