# shellcheck shell=bash
# Sourced by kolla_start (as neutron) before it runs the configured command.
# One-shot jobs as kolla's: KOLLA_BOOTSTRAP (set, even empty) upgrades the schema to head and exits.
if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    neutron-db-manage --subproject neutron upgrade head
    for service in ${NEUTRON_BOOTSTRAP_SERVICES:-}; do
        neutron-db-manage --subproject "${service}" upgrade head
    done
    exit 0
fi
if [ -n "${KOLLA_UPGRADE+set}" ]; then
    DB_ACTION=
    [ -z "${NEUTRON_DB_EXPAND+set}" ] || DB_ACTION=--expand
    [ -z "${NEUTRON_DB_CONTRACT+set}" ] || DB_ACTION=--contract
    neutron-db-manage --subproject neutron upgrade ${DB_ACTION}
    for service in ${NEUTRON_ROLLING_UPGRADE_SERVICES:-}; do
        neutron-db-manage --subproject "${service}" upgrade ${DB_ACTION}
    done
    exit 0
fi
