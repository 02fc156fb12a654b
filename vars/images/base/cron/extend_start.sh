# shellcheck shell=bash
# Sourced by kolla_start (as root) before the configured command runs. KOLLA_LOGROTATE_SCHEDULE
# (hourly, daily, weekly or monthly) moves the logrotate job to that cron directory, as kolla's
# image does. kolla_start runs with errexit, nounset and pipefail.
cron_logrotate=
for cron_schedule in hourly daily weekly monthly; do
    if [ -e "/etc/cron.${cron_schedule}/logrotate" ]; then
        cron_logrotate=${cron_schedule}
        break
    fi
done
if [ -z "${cron_logrotate}" ]; then
    echo "cron: logrotate is not scheduled by cron"
else
    case "${KOLLA_LOGROTATE_SCHEDULE:-}" in
        hourly | daily | weekly | monthly)
            if [ "${cron_logrotate}" != "${KOLLA_LOGROTATE_SCHEDULE}" ]; then
                mv "/etc/cron.${cron_logrotate}/logrotate" "/etc/cron.${KOLLA_LOGROTATE_SCHEDULE}/logrotate"
                cron_logrotate=${KOLLA_LOGROTATE_SCHEDULE}
            fi
            ;;
    esac
    echo "cron: logrotate runs ${cron_logrotate}"
fi
