# shellcheck shell=bash
# Sourced by kolla_start (as root) before it runs the configured command.
install -d -o placement -g kolla -m 0755 /var/log/kolla/placement
# One-shot jobs as kolla's: KOLLA_BOOTSTRAP (set, even empty) syncs the database and exits.
if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    runuser -u placement -- placement-manage db sync
    runuser -u placement -- placement-manage db online_data_migrations
    exit 0
fi
if [ -n "${KOLLA_UPGRADE+set}" ]; then
    runuser -u placement -- placement-manage db sync
    exit 0
fi
if [ -n "${KOLLA_OSM+set}" ]; then
    runuser -u placement -- placement-manage db online_data_migrations
    exit 0
fi
