# shellcheck shell=bash
# Sourced by kolla_start before it runs the configured command; the nova image's own steps follow.
[ -d /var/log/kolla/nova ] || mkdir -p /var/log/kolla/nova
if [ -f /usr/local/bin/kolla_nova_extend_start ]; then
    # shellcheck source=/dev/null
    . /usr/local/bin/kolla_nova_extend_start
fi
