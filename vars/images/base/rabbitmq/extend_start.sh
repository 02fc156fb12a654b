# shellcheck shell=bash
# Sourced by kolla_start (as rabbitmq) after kolla_set_configs, before the configured command runs.
#
# The Erlang cookie is per deployment, never in the image. Sources, first match wins: a cookie file
# copied by config.json (/var/lib/rabbitmq/.erlang.cookie, as kolla-ansible's kolla-toolbox gets
# it), RABBITMQ_CLUSTER_COOKIE (kolla-ansible's environment; KOLLA_BOOTSTRAP writes it and exits,
# as kolla's one-shot does), otherwise the broker generates one at first start.

: "${RABBITMQ_LOG_DIR:=/var/log/kolla/rabbitmq}"
[ -d "${RABBITMQ_LOG_DIR}" ] || mkdir -p "${RABBITMQ_LOG_DIR}" 2>/dev/null || true

rabbitmq_write_cookie() {
    local xtrace=
    case $- in *x*) xtrace=1; set +x ;; esac
    rm -f /var/lib/rabbitmq/.erlang.cookie
    (umask 0377 && printf '%s' "${RABBITMQ_CLUSTER_COOKIE}" > /var/lib/rabbitmq/.erlang.cookie) || exit 1
    [ -z "${xtrace}" ] || set -x
}

if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    if [ -z "${RABBITMQ_CLUSTER_COOKIE:-}" ]; then
        echo "rabbitmq: KOLLA_BOOTSTRAP needs RABBITMQ_CLUSTER_COOKIE" >&2
        exit 1
    fi
    rabbitmq_write_cookie
    exit 0
fi

if [ ! -e /var/lib/rabbitmq/.erlang.cookie ] && [ -n "${RABBITMQ_CLUSTER_COOKIE:-}" ]; then
    rabbitmq_write_cookie
fi
