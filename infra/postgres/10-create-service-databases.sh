#!/bin/bash
# A database and a role per service: each service is the single writer of its own data.
# Each role's password comes from the environment (ORDER_DB_PASSWORD ...; compose.yaml passes
# them), and psql quotes it (:'password'), so any character is safe.
set -euo pipefail
for service in order inventory payment warehouse notification; do
  name="${service}_service"
  variable="${service^^}_DB_PASSWORD"
  password="${!variable:?$variable is required}"
  psql -v ON_ERROR_STOP=1 -v name="$name" -v password="$password" \
    --username "$POSTGRES_USER" --dbname postgres <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
