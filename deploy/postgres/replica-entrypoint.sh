#!/bin/sh
# The read replica (docker-compose.yml, service "db-replica"): on the first start, copy the primary with
# pg_basebackup -R (which writes standby.signal and primary_conninfo), then run PostgreSQL as a hot standby
# that replays the primary's WAL as it is streamed.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h db -U "$POSTGRES_USER" -d "$POSTGRES_DB"; do sleep 1; done
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -h db -U "$POSTGRES_USER" -D "$PGDATA" -R -X stream --checkpoint=fast
fi
# hot_standby_feedback: the primary keeps the row versions a long export on the replica still reads, so replay
# does not cancel it ("conflict with recovery")
exec postgres -c hot_standby=on -c hot_standby_feedback=on
