#!/usr/bin/env bash
# Private RabbitMQ and PostgreSQL servers for Sampark's tests, benchmarks and demo.
#
# Everything lives under one scratch folder, ${SAMPARK_RUN_DIR:-<repo>/.run}, and every socket
# listens on 127.0.0.1 only, on ports of its own, so these servers never meet Debian's own
# services, a developer's other brokers, or each other's state.
#
#   scripts/services.sh start | stop | status | env | clean
#   scripts/services.sh restart-rabbitmq | restart-postgres
#   scripts/services.sh close-amqp-connections
#   scripts/services.sh pause-rabbitmq SECONDS      SIGSTOP the broker, then SIGCONT
#   scripts/services.sh rabbitmqctl ARGS...          rabbitmqctl against the private node
#   scripts/services.sh psql ARGS...                 psql as superuser on the private server
#
# Ports (environment, defaults): SAMPARK_PG_PORT 55432, SAMPARK_AMQP_PORT 55672,
# SAMPARK_AMQPS_PORT 55671, SAMPARK_ERL_DIST_PORT 55673, SAMPARK_EPMD_PORT 55369,
# SAMPARK_CTL_DIST_PORT 55680 (rabbitmqctl's own Erlang node takes one port of 55680-55690).
# We deliberately do not read ERL_EPMD_PORT or RABBITMQ_* from the caller: a shell set up
# for another broker must not make us share (or stop) that broker's epmd or node.
# See docs/development.md.
set -euo pipefail

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)"

PG_PORT="${SAMPARK_PG_PORT:-55432}"
AMQP_PORT="${SAMPARK_AMQP_PORT:-55672}"
AMQPS_PORT="${SAMPARK_AMQPS_PORT:-55671}"
DIST_PORT="${SAMPARK_ERL_DIST_PORT:-55673}"
EPMD_PORT="${SAMPARK_EPMD_PORT:-55369}"
CTL_DIST_PORT="${SAMPARK_CTL_DIST_PORT:-55680}"
START_TIMEOUT="${SAMPARK_SERVICES_TIMEOUT:-120}"
LISTEN_ADDRESS=127.0.0.1

PG_BIN="${SAMPARK_PG_BIN:-/usr/lib/postgresql/15/bin}"
RABBITMQ_BIN="${SAMPARK_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
PG_SYSTEM_USER="${SAMPARK_PG_SYSTEM_USER:-sampark-pg}"

# Credentials the tests use. Test-only servers on loopback: fixed, not secret.
APP_USER=sampark
APP_PASSWORD=sampark
APP_DATABASE=sampark

RUN_DIR_INPUT="${SAMPARK_RUN_DIR:-$REPO_ROOT/.run}"
mkdir -p "$RUN_DIR_INPUT"
RUN_DIR="$(cd "$RUN_DIR_INPUT" && pwd)"

RMQ_DIR="$RUN_DIR/rabbitmq"
RMQ_NODE="sampark-${AMQP_PORT}@localhost"
RMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
RMQ_OUT="$RMQ_DIR/server.out"
TLS_DIR="$RUN_DIR/tls"

# Never let the caller's libpq settings steer our own psql calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGSERVICEFILE PGPASSFILE \
      PGSSLMODE PGOPTIONS PGAPPNAME 2>/dev/null || true

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# For the servers we launch: close every descriptor above 2 we inherited. A server that kept
# a pipe of its caller (a test runner that ran `restart-rabbitmq`, say) would keep that caller
# waiting for end-of-file until the server stops. Call it in the subshell that execs the server.
close_inherited_fds() {
    local fd n
    for fd in "/proc/$BASHPID/fd/"*; do
        n=${fd##*/}
        if [ "$n" -gt 2 ] 2>/dev/null; then { eval "exec $n>&-"; } 2>/dev/null || true; fi
    done
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/$LISTEN_ADDRESS/$1") 2>/dev/null; }

require_port_free() {
    local port=$1 what=$2
    if port_open "$port"; then
        die "port $port (for $what) on $LISTEN_ADDRESS is already taken by another process; stop it or choose other ports (see docs/development.md)"
    fi
}

# Serialize state changes (two test processes restarting the broker at once, say).
with_lock() {
    exec 9>"$RUN_DIR/.services.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    "$@"
}

# ---------------------------------------------------------------------------------------------
# TLS material: a CA and a server certificate for localhost / 127.0.0.1, made once per run dir
# (and again when the server certificate is about to expire).
# ---------------------------------------------------------------------------------------------
ensure_tls() {
    mkdir -p "$TLS_DIR"
    if [ -s "$TLS_DIR/ca.pem" ] && [ -s "$TLS_DIR/server.pem" ] && [ -s "$TLS_DIR/server-key.pem" ] \
        && openssl x509 -checkend 86400 -noout -in "$TLS_DIR/server.pem" >/dev/null 2>&1; then
        return 0
    fi
    command -v openssl >/dev/null 2>&1 || die "openssl is not installed (run scripts/install-deps.sh)"
    log "making a test CA and a server certificate in $TLS_DIR"
    local tmp
    tmp="$(mktemp -d "$TLS_DIR/.new.XXXXXX")"
    (
        cd "$tmp"
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -keyout ca-key.pem -out ca.pem -subj "/CN=Sampark test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -sha256 \
            -keyout server-key.pem -out server.csr -subj "/CN=localhost" >/dev/null 2>&1
        cat > server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost
EXT
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -sha256 -days 825 -extfile server.ext -out server.pem >/dev/null 2>&1
        openssl verify -CAfile ca.pem server.pem >/dev/null
        rm -f server.csr server.ext ca.srl
        chmod 600 ca-key.pem server-key.pem
    ) || { rm -rf "$tmp"; die "could not make the TLS certificates with openssl"; }
    mv -f "$tmp"/* "$TLS_DIR"/
    rmdir "$tmp"
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------

# The environment every rabbitmq-server / rabbitmqctl call of ours runs with. Called in a
# subshell, so it changes nothing for the rest of the script.
rmq_env() {
    local var
    for var in $(compgen -e | grep -E '^(RABBITMQ_|ERL_)' || true); do unset "$var"; done
    export HOME="$RMQ_DIR/home"              # .erlang.cookie lives here: a cookie of our own
    export RABBITMQ_NODENAME="$RMQ_NODE"
    export RABBITMQ_USE_LONGNAME=false
    export RABBITMQ_NODE_IP_ADDRESS="$LISTEN_ADDRESS"
    export RABBITMQ_NODE_PORT="$AMQP_PORT"
    export RABBITMQ_DIST_PORT="$DIST_PORT"
    export ERL_EPMD_PORT="$EPMD_PORT"
    export ERL_EPMD_ADDRESS="$LISTEN_ADDRESS"   # epmd listens on loopback only
    export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
    export RABBITMQ_LOG_BASE="$RMQ_DIR/log"
    export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
    export RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"   # not /etc/rabbitmq's
    export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
    export RABBITMQ_PID_FILE="$RMQ_PID_FILE"
    # The node's distribution listener and rabbitmqctl's own node: loopback only.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_CTL_DIST_PORT_MIN="$CTL_DIST_PORT"
    export RABBITMQ_CTL_DIST_PORT_MAX="$((CTL_DIST_PORT + 10))"
}

rmqctl() {
    [ -x "$RABBITMQ_BIN/rabbitmqctl" ] || die "rabbitmq-server is not installed (run scripts/install-deps.sh)"
    ( rmq_env; cd "$RMQ_DIR" && exec "$RABBITMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@" )
}

rmq_write_config() {
    mkdir -p "$RMQ_DIR/home" "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
    local cookie="$RMQ_DIR/home/.erlang.cookie"
    if [ ! -s "$cookie" ]; then
        ( umask 077; head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f0-9' 'A-PQ-Z' | head -c 32 > "$cookie" )
    fi
    chmod 400 "$cookie"
    : > "$RMQ_DIR/rabbitmq-env.conf"
    echo '[].' > "$RMQ_DIR/enabled_plugins"
    cat > "$RMQ_DIR/rabbitmq.conf" <<CONF
# Written by scripts/services.sh on every start; edit the script, not this file.
listeners.tcp.default = $LISTEN_ADDRESS:$AMQP_PORT
listeners.ssl.default = $LISTEN_ADDRESS:$AMQPS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/server.pem
ssl_options.keyfile = $TLS_DIR/server-key.pem
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false

# Made on the first boot of an empty node; no guest user is created.
default_vhost = /
default_user = $APP_USER
default_pass = $APP_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*

log.console = false
log.file.level = info
CONF
    # What compose.yaml's broker runs with too.
    cat "$REPO_ROOT/deploy/rabbitmq/sampark.conf" >> "$RMQ_DIR/rabbitmq.conf"
}

# Pid of the broker's beam.smp if it is ours and alive; empty otherwise.
rmq_pid() {
    local pid
    [ -s "$RMQ_PID_FILE" ] || return 0
    pid="$(tr -dc '0-9' < "$RMQ_PID_FILE")"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
    # The node name is not on beam's command line; the HOME we give it (our run dir) is.
    if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "-home $RMQ_DIR/home "; then
        echo "$pid"
    fi
}

rmq_running() {
    [ -n "$(rmq_pid)" ] && rmqctl -q await_startup --timeout 10 >/dev/null 2>&1
}

rmq_log_tail() {
    local node_log="$RMQ_DIR/log/$RMQ_NODE.log"
    if [ -s "$RMQ_OUT" ]; then
        printf -- '--- %s (this start) ---\n' "$RMQ_OUT" >&2
        awk '/^=== start /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$RMQ_OUT" | tail -n 40 >&2
    fi
    if [ -s "$node_log" ]; then
        printf -- '--- last lines of %s ---\n' "$node_log" >&2
        tail -n 20 "$node_log" >&2
    fi
}

rmq_start() {
    local paused
    paused="$(rmq_pid)"
    # A broker left frozen by an interrupted pause-rabbitmq is resumed, not restarted.
    if [ -n "$paused" ]; then kill -CONT "$paused" 2>/dev/null || true; fi
    if rmq_running; then
        log "rabbitmq already running (node $RMQ_NODE, pid $(rmq_pid))"
        return 0
    fi
    [ -x "$RABBITMQ_BIN/rabbitmq-server" ] || die "rabbitmq-server is not installed (run scripts/install-deps.sh)"
    if [ -n "$(rmq_pid)" ]; then
        # Alive but not answering: a half-dead node of ours. Stop it before starting anew.
        rmq_stop
    fi
    require_port_free "$AMQP_PORT" "AMQP"
    require_port_free "$AMQPS_PORT" "AMQPS"
    require_port_free "$DIST_PORT" "Erlang distribution"
    ensure_tls
    rmq_write_config
    rm -f "$RMQ_PID_FILE"
    log "starting rabbitmq (node $RMQ_NODE, amqp $LISTEN_ADDRESS:$AMQP_PORT, amqps $LISTEN_ADDRESS:$AMQPS_PORT)"
    printf '\n=== start %s ===\n' "$(date -Is)" >> "$RMQ_OUT"
    # setsid: a Ctrl-C at the terminal goes to the caller, whose trap stops us cleanly.
    ( close_inherited_fds; rmq_env; cd "$RMQ_DIR" && exec setsid "$RABBITMQ_BIN/rabbitmq-server" ) \
        </dev/null >>"$RMQ_OUT" 2>&1 &
    local wrapper=$! deadline=$((SECONDS + START_TIMEOUT))
    while [ ! -s "$RMQ_PID_FILE" ]; do
        if ! kill -0 "$wrapper" 2>/dev/null; then
            rmq_log_tail; die "rabbitmq-server exited during start"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            rmq_log_tail; rmq_stop || true
            die "rabbitmq did not write its pid file within ${START_TIMEOUT}s"
        fi
        sleep 0.5
    done
    local remaining=$((deadline - SECONDS))
    [ "$remaining" -gt 5 ] || remaining=5
    if ! rmqctl -q wait "$RMQ_PID_FILE" --timeout "$remaining" >/dev/null 2>&1; then
        rmq_log_tail; rmq_stop || true
        die "rabbitmq did not finish starting within ${START_TIMEOUT}s"
    fi
    rmq_provision
    log "rabbitmq ready (pid $(rmq_pid))"
}

# The node usually made the sampark user from default_user on its first boot; this repairs a
# node that was changed by hand (or booted before the config said so).
rmq_provision() {
    local users
    users="$(rmqctl -q list_users --no-table-headers 2>/dev/null | awk '{print $1}')" \
        || die "rabbitmqctl list_users failed"
    if ! grep -qx "$APP_USER" <<<"$users"; then
        rmqctl -q add_user "$APP_USER" "$APP_PASSWORD" >/dev/null
        rmqctl -q set_user_tags "$APP_USER" administrator >/dev/null
    fi
    rmqctl -q set_permissions -p / "$APP_USER" '.*' '.*' '.*' >/dev/null
    if grep -qx guest <<<"$users"; then
        rmqctl -q delete_user guest >/dev/null || true
    fi
}

epmd_stop() {
    # Only our private epmd (its own port); harmless when it is not running.
    if port_open "$EPMD_PORT"; then
        ERL_EPMD_PORT="$EPMD_PORT" epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
        for _ in $(seq 1 20); do port_open "$EPMD_PORT" || return 0; sleep 0.25; done
        log "warning: epmd on port $EPMD_PORT did not stop"
    fi
}

rmq_stop() {
    local pid
    pid="$(rmq_pid)"
    if [ -n "$pid" ]; then
        log "stopping rabbitmq (pid $pid)"
        rmqctl -q stop "$RMQ_PID_FILE" >/dev/null 2>&1 || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            log "rabbitmq did not stop in 30s: SIGTERM, then SIGKILL"
            kill -CONT "$pid" 2>/dev/null || true
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$RMQ_PID_FILE"
    epmd_stop
}

rmq_restart() {
    [ -n "$(rmq_pid)" ] || die "rabbitmq is not running (scripts/services.sh start)"
    rmq_stop
    rmq_start
}

rmq_pause() {
    local seconds=${1:-}
    [[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "usage: services.sh pause-rabbitmq SECONDS"
    local pid
    pid="$(rmq_pid)"
    [ -n "$pid" ] || die "rabbitmq is not running"
    local sleeper=""
    # Whatever happens to us, the broker must not stay frozen.
    # shellcheck disable=SC2064
    trap "kill -CONT $pid 2>/dev/null || true" EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    log "pausing rabbitmq (SIGSTOP pid $pid) for ${seconds}s"
    kill -STOP "$pid"
    # sleep in the background, so a signal to us runs the trap at once, not after the sleep.
    sleep "$seconds" &
    sleeper=$!
    # shellcheck disable=SC2064
    trap "kill $sleeper 2>/dev/null; kill -CONT $pid 2>/dev/null || true" EXIT
    wait "$sleeper"
    kill -CONT "$pid"
    trap - EXIT INT TERM
    log "rabbitmq resumed (SIGCONT pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

# PostgreSQL refuses to run as root. As root we run it as a system user of its own; that user
# must be able to reach its data folder, which it cannot under a private home such as /root
# (mode 700). Then the data goes to a folder in /tmp named after the run dir, and
# <run>/postgres is a symbolic link to it.
PG_DIR=""
pg_as() {
    # cd: PostgreSQL's tools complain when they cannot enter the caller's directory.
    if is_root; then ( cd "${PG_DIR:-/}" && runuser -u "$PG_SYSTEM_USER" -- "$@" ); else "$@"; fi
}

# Sets PG_DIR, PG_DATA, PG_SOCKET_DIR, PG_LOG. With "create", also makes the system user and
# the folder; without, it only finds them (stop, status and clean make nothing).
pg_setup_paths() {
    local create=${1:-}
    PG_DIR="$RUN_DIR/postgres"
    if [ -L "$PG_DIR" ]; then PG_DIR="$(readlink "$PG_DIR")"; fi
    if [ "$create" = create ]; then
        if is_root; then
            if ! id -u "$PG_SYSTEM_USER" >/dev/null 2>&1; then
                log "creating system user $PG_SYSTEM_USER to run PostgreSQL (it refuses to run as root)"
                useradd --system --user-group --no-create-home --home-dir /nonexistent \
                    --shell /usr/sbin/nologin "$PG_SYSTEM_USER"
            fi
            if [ ! -L "$RUN_DIR/postgres" ]; then
                chmod 755 "$RUN_DIR" 2>/dev/null || true
                if ! runuser -u "$PG_SYSTEM_USER" -- test -x "$RUN_DIR"; then
                    PG_DIR="/tmp/sampark-pg-$(printf '%s' "$RUN_DIR" | md5sum | cut -c1-12)"
                    rm -rf "$RUN_DIR/postgres"
                    ln -s "$PG_DIR" "$RUN_DIR/postgres"
                    log "PostgreSQL data in $PG_DIR ($PG_SYSTEM_USER cannot reach $RUN_DIR)"
                fi
            fi
            mkdir -p "$PG_DIR"
            chown "$PG_SYSTEM_USER:$PG_SYSTEM_USER" "$PG_DIR"
            chmod 700 "$PG_DIR"
        else
            mkdir -p "$PG_DIR"
        fi
    fi
    PG_DATA="$PG_DIR/data"
    PG_SOCKET_DIR="$PG_DIR/socket"
    PG_LOG="$PG_DIR/postgres.log"
}

# Options given on every start, so a changed port takes effect without a new initdb. TLS is on
# (the test CA's server certificate for localhost): clients choose it with sslmode.
pg_options() {
    printf -- "-c listen_addresses=%s -c port=%s -c unix_socket_directories=%s -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s" \
        "$LISTEN_ADDRESS" "$PG_PORT" "$PG_SOCKET_DIR" "$PG_DIR/tls/server.pem" "$PG_DIR/tls/server-key.pem"
}

# The server's certificate and key where the PostgreSQL user can read them: PostgreSQL refuses
# a key file that others can read, or that another user owns.
pg_install_tls() {
    ensure_tls
    pg_as mkdir -p "$PG_DIR/tls"
    cat "$TLS_DIR/server.pem" | pg_as tee "$PG_DIR/tls/server.pem" >/dev/null
    cat "$TLS_DIR/server-key.pem" | pg_as tee "$PG_DIR/tls/server-key.pem" >/dev/null
    pg_as chmod 600 "$PG_DIR/tls/server-key.pem"
}

pg_ctl_cmd() { pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" "$@"; }

pg_running() {
    [ -s "$PG_DATA/postmaster.pid" ] || return 1
    pg_ctl_cmd status >/dev/null 2>&1 || return 1
    "$PG_BIN/pg_isready" -q -h "$LISTEN_ADDRESS" -p "$PG_PORT" -t 5 >/dev/null 2>&1
}

pg_log_tail() {
    if [ -s "$PG_LOG" ]; then
        printf -- '--- last lines of %s ---\n' "$PG_LOG" >&2
        tail -n 40 "$PG_LOG" >&2
    fi
}

# psql as the superuser, over the private unix socket (trust applies there only).
pg_superuser_psql() {
    PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
}

pg_initdb() {
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed in $PG_BIN (run scripts/install-deps.sh)"
    log "initdb in $PG_DATA"
    rm -rf "$PG_DATA"
    pg_as mkdir -p "$PG_DATA"
    # Local (unix socket) connections: trust, used by this script as superuser.
    # TCP connections: SCRAM passwords.
    if ! pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 > "$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        rm -rf "$PG_DATA"
        die "initdb failed"
    fi
    pg_as tee -a "$PG_DATA/postgresql.conf" >/dev/null <<'CONF'

# Added by scripts/services.sh (listen address, port and socket folder come on the command line).
shared_buffers = 256MB
max_connections = 200
CONF
}

pg_wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h "$LISTEN_ADDRESS" -p "$PG_PORT" -t 2 >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            pg_log_tail; die "postgresql does not accept connections after ${START_TIMEOUT}s"
        fi
        sleep 0.3
    done
}

pg_start() {
    pg_setup_paths create
    if pg_running; then
        log "postgresql already running (port $PG_PORT)"
        return 0
    fi
    require_port_free "$PG_PORT" "PostgreSQL"
    if [ ! -s "$PG_DATA/PG_VERSION" ]; then pg_initdb; fi
    pg_as mkdir -p "$PG_SOCKET_DIR"
    pg_install_tls
    log "starting postgresql (127.0.0.1:$PG_PORT, data $PG_DATA)"
    if ! ( close_inherited_fds; pg_ctl_cmd start -w -t "$START_TIMEOUT" -l "$PG_LOG" -o "$(pg_options)" ) </dev/null >/dev/null; then
        pg_log_tail; die "pg_ctl start failed"
    fi
    pg_wait_ready
    pg_provision
    log "postgresql ready"
}

pg_provision() {
    pg_superuser_psql -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    -- CREATEROLE: migration 0009 makes the workers' NOLOGIN roles, sampark db-login their logins.
    CREATE ROLE $APP_USER LOGIN CREATEDB CREATEROLE PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB CREATEROLE PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
-- The COPY benchmark checkpoints before each load, so neither side pays for the other's WAL.
GRANT pg_checkpoint TO $APP_USER;
-- The fault tests watch the workers' statements in pg_stat_activity, and each worker logs in
-- as a role of its own: only a member of pg_read_all_stats sees other roles' statements.
GRANT pg_read_all_stats TO $APP_USER;
SQL
    if [ -z "$(pg_superuser_psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$APP_DATABASE'")" ]; then
        pg_superuser_psql -d postgres -c "CREATE DATABASE $APP_DATABASE OWNER $APP_USER"
    fi
    pg_superuser_psql -d "$APP_DATABASE" <<SQL
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SQL
}

pg_stop() {
    pg_setup_paths
    if [ -s "$PG_DATA/postmaster.pid" ] && pg_ctl_cmd status >/dev/null 2>&1; then
        log "stopping postgresql"
        pg_ctl_cmd stop -m fast -w -t 60 >/dev/null 2>&1 \
            || pg_ctl_cmd stop -m immediate -w -t 30 >/dev/null 2>&1 || true
    fi
}

pg_restart() {
    pg_setup_paths
    pg_running || die "postgresql is not running (scripts/services.sh start)"
    pg_install_tls
    log "restarting postgresql"
    if ! ( close_inherited_fds; pg_ctl_cmd restart -m fast -w -t "$START_TIMEOUT" -l "$PG_LOG" -o "$(pg_options)" ) </dev/null >/dev/null; then
        pg_log_tail; die "pg_ctl restart failed"
    fi
    pg_wait_ready
    log "postgresql accepts connections again"
}

# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------
cmd_env() {
    cat <<ENV
export SAMPARK_RUN_DIR='$RUN_DIR'
export SAMPARK_TEST_SERVICES='$SCRIPT_PATH'
export SAMPARK_TEST_AMQP_URL='amqp://$APP_USER:$APP_PASSWORD@$LISTEN_ADDRESS:$AMQP_PORT/%2f'
export SAMPARK_TEST_AMQPS_URL='amqps://$APP_USER:$APP_PASSWORD@localhost:$AMQPS_PORT/%2f'
export SAMPARK_TEST_TLS_CA='$TLS_DIR/ca.pem'
export SAMPARK_TEST_POSTGRES_URL='postgres://$APP_USER:$APP_PASSWORD@$LISTEN_ADDRESS:$PG_PORT/$APP_DATABASE'
export PGHOST='$LISTEN_ADDRESS'
export PGPORT='$PG_PORT'
export PGUSER='$APP_USER'
export PGPASSWORD='$APP_PASSWORD'
export PGDATABASE='$APP_DATABASE'
ENV
}

cmd_status() {
    local ok=0 pid
    pid="$(rmq_pid)"
    if [ -n "$pid" ] && rmqctl -q await_startup --timeout 10 >/dev/null 2>&1; then
        echo "rabbitmq:   running  node $RMQ_NODE pid $pid, amqp $LISTEN_ADDRESS:$AMQP_PORT, amqps $LISTEN_ADDRESS:$AMQPS_PORT"
    elif [ -n "$pid" ]; then
        echo "rabbitmq:   NOT READY (pid $pid alive, node not answering)"; ok=1
    else
        echo "rabbitmq:   stopped"; ok=1
    fi
    pg_setup_paths
    if pg_running; then
        echo "postgresql: running  pid $(head -n1 "$PG_DATA/postmaster.pid"), $LISTEN_ADDRESS:$PG_PORT, data $PG_DATA"
    else
        echo "postgresql: stopped"; ok=1
    fi
    echo "run dir:    $RUN_DIR"
    return $ok
}

cmd_start() {
    local failed=0
    # Check every port first, so a taken one fails fast, before anything starts.
    if [ -z "$(rmq_pid)" ]; then
        require_port_free "$AMQP_PORT" "AMQP"
        require_port_free "$AMQPS_PORT" "AMQPS"
        require_port_free "$DIST_PORT" "Erlang distribution"
    fi
    pg_setup_paths
    if ! { [ -s "$PG_DATA/postmaster.pid" ] && pg_ctl_cmd status >/dev/null 2>&1; }; then
        require_port_free "$PG_PORT" "PostgreSQL"
    fi
    # Roll back on failure: a half-started pair would be left running otherwise.
    ( rmq_start ) || failed=1
    if [ $failed = 0 ]; then ( pg_start ) || failed=1; fi
    if [ $failed != 0 ]; then
        log "start failed; stopping what was started"
        cmd_stop || true
        return 1
    fi
}

cmd_stop() {
    ( rmq_stop ) || true
    ( pg_stop ) || true
    local left=""
    [ -z "$(rmq_pid)" ] || left="rabbitmq "
    pg_setup_paths
    if [ -s "$PG_DATA/postmaster.pid" ] && pg_ctl_cmd status >/dev/null 2>&1; then left="${left}postgresql"; fi
    [ -z "$left" ] || die "still running after stop: $left"
    log "stopped"
}

cmd_clean() {
    cmd_stop
    pg_setup_paths
    if [ -L "$RUN_DIR/postgres" ]; then rm -rf "$PG_DIR"; fi
    rm -rf "$RUN_DIR"
    log "removed $RUN_DIR"
}

usage() {
    sed -n '2,20p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case "$cmd" in
        start)                  with_lock cmd_start ;;
        stop)                   with_lock cmd_stop ;;
        clean)                  with_lock cmd_clean ;;
        status)                 cmd_status ;;
        env)                    cmd_env ;;
        restart-rabbitmq)       with_lock rmq_restart ;;
        restart-postgres)       with_lock pg_restart ;;
        close-amqp-connections) rmqctl -q close_all_connections "closed by scripts/services.sh (test)" ;;
        pause-rabbitmq)         rmq_pause "$@" ;;
        rabbitmqctl)            rmqctl "$@" ;;
        psql)                   pg_setup_paths; pg_superuser_psql "$@" ;;
        -h|--help|help|"")      usage ;;
        *)                      usage >&2; die "unknown subcommand: $cmd" ;;
    esac
}

main "$@"
