#!/bin/bash
# A database and a role per service: each service is the single writer of its own data.
set -euo pipefail
for service in order inventory payment warehouse notification; do
  name="${service}_service"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE ${name} LOGIN PASSWORD '${name}';
CREATE DATABASE ${name} OWNER ${name};
REVOKE ALL ON DATABASE ${name} FROM PUBLIC;
SQL
done
