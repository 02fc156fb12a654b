# shellcheck shell=bash
# Sourced by the nova-base hook (as root). One-shot jobs as kolla's: KOLLA_BOOTSTRAP (set, even
# empty) syncs the API and cell databases and exits.
if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    runuser -u nova -- nova-manage api_db sync
    runuser -u nova -- nova-manage db sync --local_cell
    runuser -u nova -- nova-manage db online_data_migrations
    exit 0
fi
if [ -n "${KOLLA_UPGRADE+set}" ]; then
    runuser -u nova -- nova-manage api_db sync
    runuser -u nova -- nova-manage db sync --local_cell
    exit 0
fi
if [ -n "${KOLLA_OSM+set}" ]; then
    runuser -u nova -- nova-manage db online_data_migrations
    exit 0
fi
if [ -n "${KOLLA_UPGRADE_CHECK+set}" ]; then
    runuser -u nova -- nova-status upgrade check
    exit $?
fi
