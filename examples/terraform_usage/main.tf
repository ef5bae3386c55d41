# Stores its state in state-ledger under the name "example".
terraform {
  # username/password are deliberately absent: the http backend reads
  # TF_HTTP_USERNAME / TF_HTTP_PASSWORD (set in docker-compose.yml).
  backend "http" {
    address        = "http://state-ledger:8080/states/example"
    lock_address   = "http://state-ledger:8080/states/example/lock"
    unlock_address = "http://state-ledger:8080/states/example/unlock"
    lock_method    = "POST"
    unlock_method  = "POST"
  }

  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "~> 3.2"
    }
  }
}

variable "greeting" {
  type    = string
  default = "hello from state-ledger"
}

# Changing var.greeting replaces the resource, producing a new state version.
resource "null_resource" "example" {
  triggers = {
    greeting = var.greeting
  }
}

output "greeting" {
  value = var.greeting
}

output "instance_id" {
  value = null_resource.example.id
}
