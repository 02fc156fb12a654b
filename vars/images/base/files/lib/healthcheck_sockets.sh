# shellcheck shell=bash
# Sourced by healthcheck_listen and healthcheck_port (bash): sockets of processes read from /proc.

# process_sockets PATTERN: fills the associative array "sockets" with the socket inodes held by
# the processes whose command line matches PATTERN (pgrep -f) and sets "netdir" to the /proc/PID/net
# of one of them (its network namespace). Fails when no such process holds a socket.
process_sockets() {
    declare -gA sockets=()
    netdir=""
    local pid fd link
    for pid in $(pgrep -f -- "$1"); do
        [[ $pid -eq $$ ]] && continue
        for fd in /proc/"$pid"/fd/*; do
            link=$(readlink "$fd" 2>/dev/null) || continue
            if [[ $link == socket:\[*\] ]]; then
                link=${link#socket:[}
                sockets[${link%]}]=1
                netdir=/proc/$pid/net
            fi
        done
    done
    [[ ${#sockets[@]} -gt 0 ]]
}

# inet_match PROTO STATE PORT...: succeeds when one of the sockets is a PROTO socket (IPv4 or IPv6)
# in STATE (a hex state of /proc/net/tcp, or "connected": any state but LISTEN) whose local or
# remote port is one of the ports.
inet_match() {
    local proto=$1 state=$2 file sl laddr raddr st inode port want
    shift 2
    for file in "$netdir/$proto" "$netdir/${proto}6"; do
        [[ -r $file ]] || continue
        while read -r sl laddr raddr st _ _ _ _ _ inode _; do
            [[ $sl == sl ]] && continue
            [[ -n ${sockets[$inode]:-} ]] || continue
            if [[ $state == connected ]]; then
                [[ $st == 0A ]] && continue
            else
                [[ $st == "$state" ]] || continue
            fi
            for port in $((16#${laddr##*:})) $((16#${raddr##*:})); do
                for want in "$@"; do
                    [[ $port -eq $want && $port -ne 0 ]] && return 0
                done
            done
        done < "$file"
    done
    return 1
}
