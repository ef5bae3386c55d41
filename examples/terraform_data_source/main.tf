# Keeps its own state ("example-reader") and reads the outputs of the
# "example" state written by ../terraform_usage.
terraform {
  # Credentials come from TF_HTTP_USERNAME / TF_HTTP_PASSWORD (docker-compose.yml).
  backend "http" {
    address        = "http://state-ledger:8080/states/example-reader"
    lock_address   = "http://state-ledger:8080/states/example-reader/lock"
    unlock_address = "http://state-ledger:8080/states/example-reader/unlock"
    lock_method    = "POST"
    unlock_method  = "POST"
  }
}

# TF_VAR_state_ledger_password overrides this default (docker-compose.yml sets it).
variable "state_ledger_password" {
  type      = string
  default   = "change-me"
  sensitive = true
}

data "terraform_remote_state" "usage" {
  backend = "http"
  config = {
    address  = "http://state-ledger:8080/states/example"
    username = "admin"
    password = var.state_ledger_password
  }
}

output "greeting" {
  value = data.terraform_remote_state.usage.outputs.greeting
}
