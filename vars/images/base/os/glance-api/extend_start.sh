# shellcheck shell=bash
# Sourced by kolla_start (as glance) before it runs the configured command.
# One-shot jobs as kolla's: KOLLA_BOOTSTRAP (set, even empty) syncs the database and exits.
if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    glance-manage db_sync
    glance-manage db_load_metadefs
    exit 0
fi
if [ -n "${KOLLA_UPGRADE+set}" ]; then
    [ -z "${GLANCE_DB_EXPAND+set}" ] || glance-manage db expand
    [ -z "${GLANCE_DB_MIGRATE+set}" ] || glance-manage db migrate
    [ -z "${GLANCE_DB_CONTRACT+set}" ] || glance-manage db contract
    exit 0
fi
