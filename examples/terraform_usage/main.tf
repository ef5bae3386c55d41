# Stores its state in state-ledger under the name "example".
# Built-in resources only (terraform_data): `init` downloads no provider, so this works
# without access to a provider registry.
terraform {
  # username/password are deliberately absent: the http backend reads
  # TF_HTTP_USERNAME / TF_HTTP_PASSWORD (set in docker-compose.yml from .env).
  # The address is the server on the compose network; elsewhere, override it at init:
  #   -backend-config="address=https://HOST/states/example" (and lock_address, unlock_address).
  backend "http" {
    address        = "http://state-ledger:8080/states/example"
    lock_address   = "http://state-ledger:8080/states/example/lock"
    unlock_address = "http://state-ledger:8080/states/example/unlock"
    lock_method    = "POST"
    unlock_method  = "POST"
  }
}

variable "greeting" {
  type    = string
  default = "hello from state-ledger"
}

# Changing var.greeting replaces the resource, producing a new state version.
resource "terraform_data" "example" {
  input            = var.greeting
  triggers_replace = [var.greeting]
}

output "greeting" {
  value = terraform_data.example.output
}

output "instance_id" {
  value = terraform_data.example.id
}
