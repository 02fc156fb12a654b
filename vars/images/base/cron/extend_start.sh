# Sourced by kolla_start (as root) before the configured command runs. KOLLA_LOGROTATE_SCHEDULE
# (hourly, daily, weekly or monthly) moves the logrotate job to that cron directory.
cron_logrotate=$(ls /etc/cron.hourly/logrotate /etc/cron.daily/logrotate /etc/cron.weekly/logrotate \
    /etc/cron.monthly/logrotate 2>/dev/null | head -n 1)
if [ -z "${cron_logrotate}" ]; then
    echo "cron: logrotate is not scheduled by cron"
else
    case "${KOLLA_LOGROTATE_SCHEDULE:-}" in
        hourly | daily | weekly | monthly)
            if [ "${cron_logrotate}" != "/etc/cron.${KOLLA_LOGROTATE_SCHEDULE}/logrotate" ]; then
                mv "${cron_logrotate}" "/etc/cron.${KOLLA_LOGROTATE_SCHEDULE}/logrotate"
                cron_logrotate="/etc/cron.${KOLLA_LOGROTATE_SCHEDULE}/logrotate"
            fi
            ;;
    esac
    cron_logrotate=${cron_logrotate#/etc/cron.}
    echo "cron: logrotate runs ${cron_logrotate%/logrotate}"
fi
