# shellcheck shell=bash
# Sourced by kolla_start (as mysql) after kolla_set_configs, before the configured command runs.
#
# KOLLA_BOOTSTRAP (set, even empty): a one-shot job as kolla-ansible runs it: initialize the
# datadir, set root's password from DB_ROOT_PASSWORD, exit. Without it, an empty datadir is
# bootstrapped the same way at first start and the server then starts on it; a datadir that holds
# data is never touched. DB_MAX_TIMEOUT bounds the wait for the temporary server (seconds).
# KOLLA_UPGRADE: mariadb-upgrade against DB_HOST:DB_PORT, then exit. BOOTSTRAP_ARGS is appended
# to the command (kolla-ansible passes --wsrep-new-cluster to the first Galera node).
# kolla_start runs with errexit, nounset and pipefail: every step here is written for them.

: "${MARIADB_LOG_DIR:=/var/log/kolla/mariadb}"
[ -d "${MARIADB_LOG_DIR}" ] || mkdir -p "${MARIADB_LOG_DIR}" 2>/dev/null || true

mariadb_datadir() {
    local dir
    dir=$(my_print_defaults --mysqld 2>/dev/null | sed -n 's/^--datadir=//p' | tail -n 1) || dir=
    dir=${dir:-/var/lib/mysql}
    echo "${dir%/}"
}

mariadb_bootstrap() {
    local datadir=$1 sock=/run/mysqld/bootstrap.sock pid waited=0 pw out xtrace=''
    # Never trace the password (kolla_start may run with xtrace on).
    case $- in *x*) xtrace=1; set +x ;; esac
    if [ -z "${DB_ROOT_PASSWORD:-}" ]; then
        echo "mariadb: ${datadir} is empty and DB_ROOT_PASSWORD is not set: cannot bootstrap" >&2
        exit 1
    fi
    echo "mariadb: initializing ${datadir}" >&2
    # Its banner advises what the next steps do; printed only when it fails.
    if ! out=$(mariadb-install-db --datadir="${datadir}" --skip-test-db \
        --auth-root-authentication-method=normal 2>&1); then
        echo "${out}" >&2
        exit 1
    fi
    # A private server for the initial grants: no network, no Galera replication.
    mariadbd --datadir="${datadir}" --skip-networking --wsrep-on=OFF \
        --socket="${sock}" --pid-file=/run/mysqld/bootstrap.pid &
    pid=$!
    until mariadb --skip-ssl --protocol=socket -S "${sock}" -uroot -e 'SELECT 1' >/dev/null 2>&1; do
        if ! kill -0 "${pid}" 2>/dev/null || [ "${waited}" -ge "${DB_MAX_TIMEOUT:-60}" ]; then
            echo "mariadb: the bootstrap server did not answer within ${DB_MAX_TIMEOUT:-60} s" >&2
            kill "${pid}" 2>/dev/null
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    # SQL string literal: escape backslashes and quotes. Sent on stdin, never in argv.
    pw=${DB_ROOT_PASSWORD//\\/\\\\}
    pw=${pw//\'/\\\'}
    mariadb --skip-ssl --protocol=socket -S "${sock}" -uroot <<SQL || { kill "${pid}"; exit 1; }
DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host<>'localhost');
DELETE FROM mysql.db WHERE Db='test' OR Db LIKE 'test\\_%';
DROP DATABASE IF EXISTS test;
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY '${pw}';
CREATE USER 'root'@'%' IDENTIFIED BY '${pw}';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SHUTDOWN;
SQL
    pw=
    wait "${pid}" || true
    echo "mariadb: ${datadir} initialized" >&2
    [ -z "${xtrace}" ] || set -x
}

MARIADB_DATADIR=$(mariadb_datadir)

if [ -n "${KOLLA_BOOTSTRAP+set}" ]; then
    if [ -d "${MARIADB_DATADIR}/mysql" ]; then
        echo "mariadb: ${MARIADB_DATADIR} is already initialized; nothing to bootstrap" >&2
    else
        mariadb_bootstrap "${MARIADB_DATADIR}"
    fi
    exit 0
fi

if [ -n "${KOLLA_UPGRADE+set}" ]; then
    # Credentials through a private option file, not argv.
    MARIADB_UPGRADE_CNF=$(mktemp)
    case $- in *x*) set +x; MARIADB_XTRACE=1 ;; esac
    printf '[client]\nuser=root\npassword="%s"\n' "${DB_ROOT_PASSWORD//\"/\\\"}" > "${MARIADB_UPGRADE_CNF}"
    [ -z "${MARIADB_XTRACE:-}" ] || set -x
    MARIADB_UPGRADE_RC=0
    mariadb-upgrade --defaults-extra-file="${MARIADB_UPGRADE_CNF}" \
        --host="${DB_HOST:-localhost}" --port="${DB_PORT:-3306}" || MARIADB_UPGRADE_RC=$?
    rm -f "${MARIADB_UPGRADE_CNF}"
    exit "${MARIADB_UPGRADE_RC}"
fi

if [ ! -d "${MARIADB_DATADIR}/mysql" ]; then
    mariadb_bootstrap "${MARIADB_DATADIR}"
fi

if [ -n "${BOOTSTRAP_ARGS+set}" ]; then
    # shellcheck disable=SC2034  # read by kolla_start
    ARGS="${BOOTSTRAP_ARGS}"
fi
