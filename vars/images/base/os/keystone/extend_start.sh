# shellcheck shell=bash
# Sourced by kolla_start (as root) before it runs the configured command.
KEYSTONE_LOG_DIR=/var/log/kolla/keystone
install -d -o keystone -g kolla -m 0755 "${KEYSTONE_LOG_DIR}"
[ -e "${KEYSTONE_LOG_DIR}/keystone.log" ] || install -o keystone -g keystone -m 0644 /dev/null "${KEYSTONE_LOG_DIR}/keystone.log"

# One-shot jobs as kolla's: KOLLA_BOOTSTRAP (set, even empty) syncs the database and exits.
read -r -a EXTRA_ARGS <<< "${EXTRA_KEYSTONE_MANAGE_ARGS:-}"
if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    runuser -u keystone -- keystone-manage "${EXTRA_ARGS[@]}" db_sync
    exit 0
fi
if [ -n "${KOLLA_UPGRADE+set}" ]; then
    runuser -u keystone -- keystone-manage "${EXTRA_ARGS[@]}" db_sync --expand
    runuser -u keystone -- keystone-manage "${EXTRA_ARGS[@]}" db_sync --migrate
    exit 0
fi
if [ -n "${KOLLA_FINISH_UPGRADE+set}" ]; then
    runuser -u keystone -- keystone-manage "${EXTRA_ARGS[@]}" db_sync --contract
    exit 0
fi

# apache2: Debian's environment (run, lock and log dirs), and no pid file left by a killed run.
if [ -f /etc/apache2/envvars ]; then
    # shellcheck disable=SC2034  # read by /etc/apache2/envvars
    APACHE_CONFDIR=
    # shellcheck source=/dev/null
    . /etc/apache2/envvars
    install -d /var/run/apache2
    rm -rf /var/run/apache2/*
else
    rm -rf /var/run/httpd/* /run/httpd/* /tmp/httpd*
fi
# kolla-ansible's keystone-startup.sh execs "apache2 $@" (httpd): without -DFOREGROUND it would detach
# and the container would end, so the foreground flag is passed when the command does not give it.
case "${CMD:-}" in
    */keystone-startup.sh|*/apache2|apache2|*/httpd|httpd)
        # shellcheck disable=SC2034  # read by kolla_start
        case " ${CMD} ${ARGS:-} " in *" -DFOREGROUND "*) ;; *) ARGS="${ARGS:+${ARGS} }-DFOREGROUND" ;; esac ;;
esac
