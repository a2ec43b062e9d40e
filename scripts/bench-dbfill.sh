#!/usr/bin/env bash
# bench-dbfill.sh sqlite FILE|mysql DBNAME COUNT TEMPLATE_ID FIRST
# Used by make bench when filling a project through the API would take too long: inserts COUNT
# volume rows copied from the API-created volume TEMPLATE_ID (same project, type, status,
# timestamps), named bench-db-FIRST..., straight into the database. They have no legs on any
# dpv: they exist for the list and show figures only, and the bench output says so.
set -euo pipefail
dialect=$1 target=$2 count=$3 tmpl=$4 first=$5
cols="project_id, user_id, display_description, size, status, attach_status, migration_status,
 availability_zone, volume_type_id, snapshot_id, source_volid, bootable, read_only, multiattach, host,
 dvg_id, layout_mirrors, layout_stripes, layout_chunk_kib, epoch, error_reason, created_at, updated_at,
 launched_at, terminated_at"
case $dialect in
sqlite)
    id="'dbfill00-0000-4000-8000-' || printf('%012d', n)"
    name="'bench-db-' || n"
    run() { sqlite3 -cmd ".timeout 30000" "$target" "$1"; }
    ;;
mysql)
    id="CONCAT('dbfill00-0000-4000-8000-', LPAD(n, 12, '0'))"
    name="CONCAT('bench-db-', n)"
    run() { mariadb -h 127.0.0.1 -u root "$target" -e "SET SESSION max_recursive_iterations = 10000000; $1"; }
    ;;
*) echo "usage: $0 sqlite FILE|mysql DBNAME COUNT TEMPLATE_ID FIRST" >&2; exit 2 ;;
esac
run "INSERT INTO volumes (id, display_name, $cols)
WITH RECURSIVE seq(n) AS (SELECT $first UNION ALL SELECT n + 1 FROM seq WHERE n < $((first + count - 1)))
SELECT $id, $name, $cols FROM seq, volumes WHERE volumes.id = '$tmpl'"
