# Keeps its own state ("example-reader") and reads the outputs of the
# "example" state written by ../terraform_usage. Built-in only: no provider to download.
terraform {
  # Credentials come from TF_HTTP_USERNAME / TF_HTTP_PASSWORD (docker-compose.yml, from .env).
  backend "http" {
    address        = "http://state-ledger:8080/states/example-reader"
    lock_address   = "http://state-ledger:8080/states/example-reader/lock"
    unlock_address = "http://state-ledger:8080/states/example-reader/unlock"
    lock_method    = "POST"
    unlock_method  = "POST"
  }
}

# The server as this workspace reaches it (the compose network by default).
variable "state_ledger_url" {
  type    = string
  default = "http://state-ledger:8080"
}

variable "state_ledger_username" {
  type    = string
  default = "admin"
}

# No default: docker-compose.yml sets TF_VAR_state_ledger_password from .env.
variable "state_ledger_password" {
  type      = string
  sensitive = true
}

data "terraform_remote_state" "usage" {
  backend = "http"
  config = {
    address  = "${var.state_ledger_url}/states/example"
    username = var.state_ledger_username
    password = var.state_ledger_password
  }
}

output "greeting" {
  value = data.terraform_remote_state.usage.outputs.greeting
}
