#!/bin/sh
# Run once by the postgis image when it creates the primary's cluster (/docker-entrypoint-initdb.d): let the
# replica service stream the WAL (a replication connection with the database user's password).
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
