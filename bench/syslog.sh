# shellcheck shell=bash disable=SC2034  # SYSLOG_FILE and SYSLOG_NOTE are for the caller
# Sourced by the benchmarks: make sure a syslog daemon listens on /dev/log, as on every real host.
#
# Without one, a module that logs with LOG_CONS (pam_google_authenticator) falls back to blocking
# writes to /dev/console on every line, and a server's log calls fail fast instead of sending:
# both skew a comparison. If nothing listens, start rsyslogd (Debian's rsyslog) on /dev/log,
# writing every line to a file (rate limiting off, so every decision really is logged), and stop
# it when the benchmark ends.
#
#   source bench/syslog.sh; ensure_syslog DIR    # DIR: where the log file and pid file go
#
# Sets SYSLOG_FILE (the file our daemon writes, empty if the host's own daemon is used) and
# SYSLOG_NOTE (one line saying which listener is in use, for the report).
#
# A benchmark that counts the lines its servers logged cannot read another daemon's file: when
# /dev/log is already someone else's (the host's, or another benchmark's rsyslogd on a shared
# machine), `private_syslog DIR` starts a daemon of our own on DIR/log.sock instead, and the
# processes started with `syslog_run CMD ARGS... &` see that socket as /dev/log (a private mount
# namespace, `unshare -m` and a bind mount), while everyone else keeps the host's. It fails
# (nothing changed) where mount namespaces are not allowed.
#
#   ensure_syslog "$TMP"; [ -n "$SYSLOG_FILE" ] || private_syslog "$TMP" || true
#   syslog_run "$BIN/server" ... &

# Whether a daemon reads datagrams sent to the socket at PATH (default /dev/log).
syslog_listening() {
  local path=${1:-/dev/log}
  [ -S "$path" ] || return 1
  python3 - "$path" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.connect(sys.argv[1])
    s.send(b"<15>tessera-bench: probe")
except OSError:
    sys.exit(1)
PY
}

# rsyslogd on the socket PATH, every line to DIR/syslog.log, rate limiting off.
start_rsyslogd() {
  local dir=$1 path=$2
  command -v rsyslogd >/dev/null || { echo "no rsyslogd to listen on $path (scripts/install-deps.sh)" >&2; return 1; }
  SYSLOG_FILE="$dir/syslog.log"
  SYSLOG_SOCKET=$path
  rm -f "$path"
  cat > "$dir/rsyslog.conf" <<CONF
module(load="imuxsock" SysSock.Name="$path" SysSock.RateLimit.Interval="0")
*.* action(type="omfile" file="$SYSLOG_FILE")
CONF
  # Its socket queues up to 512 datagrams, as on a host booted by systemd (sysctl.d/50-default.conf
  # sets net.unix.max_dgram_qlen = 512; the kernel's default is 10, and a burst of log lines
  # from a server that does not wait for the daemon would be lost). The limit is the receiving
  # socket's, taken from its network namespace when it is made: the daemon gets a namespace of
  # its own, so nothing else on the machine changes.
  SYSLOG_QLEN=$(cat /proc/sys/net/unix/max_dgram_qlen)
  if unshare -n true 2>/dev/null; then
    # shellcheck disable=SC2016  # expanded by the inner shell
    unshare -n sh -c 'echo 512 > /proc/sys/net/unix/max_dgram_qlen && exec rsyslogd -f "$0" -i "$1"' \
      "$dir/rsyslog.conf" "$dir/rsyslog.pid"
    SYSLOG_QLEN=512
  else
    rsyslogd -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid"
  fi
  for _ in $(seq 50); do syslog_listening "$path" && break; sleep 0.1; done
  syslog_listening "$path" || { echo "rsyslogd did not start listening on $path" >&2; SYSLOG_FILE=""; return 1; }
  # Removed at the end only if it is still this socket.
  SYSLOG_SOCKET_INODE=$(stat -c %i "$path")
  SYSLOG_DAEMON="$(rsyslogd -v | head -1 | cut -d, -f1 | awk '{print $1, $2}') (queue of $SYSLOG_QLEN datagrams)"
}

ensure_syslog() {
  local dir=$1
  SYSLOG_FILE=""
  SYSLOG_PRIVATE=""
  if syslog_listening; then
    SYSLOG_NOTE="syslog: the host's listener on /dev/log"
    return 0
  fi
  start_rsyslogd "$dir" /dev/log || return 1
  SYSLOG_NOTE="syslog: none was listening on /dev/log; started $SYSLOG_DAEMON on it (rate limit off, every line to a file), stopped at exit"
}

private_syslog() {
  local dir=$1
  unshare -m --propagation private true 2>/dev/null || return 1
  [ -e /dev/log ] || return 1
  start_rsyslogd "$dir" "$dir/log.sock" || return 1
  SYSLOG_PRIVATE=$dir/log.sock
  SYSLOG_NOTE="syslog: /dev/log is another daemon's (the host's or another benchmark's); started $SYSLOG_DAEMON on a socket of its own, which the servers see as /dev/log (private mount namespace: unshare -m, mount --bind), rate limit off, every line to a file, stopped at exit"
}

# Run CMD with our private socket as its /dev/log (if private_syslog set one up), as the same
# process: start it in the background (`syslog_run CMD ARGS... &`) and $! is CMD's pid.
syslog_run() {
  if [ -n "${SYSLOG_PRIVATE:-}" ]; then
    # shellcheck disable=SC2016  # expanded by the inner shell
    exec unshare -m --propagation private sh -c 'mount --bind "$0" /dev/log && exec "$@"' "$SYSLOG_PRIVATE" "$@"
  fi
  exec "$@"
}

stop_syslog() {
  local dir=$1
  if [ -n "${SYSLOG_FILE:-}" ] && [ -e "$dir/rsyslog.pid" ]; then
    kill "$(cat "$dir/rsyslog.pid")" 2>/dev/null || true
    if [ "$(stat -c %i "$SYSLOG_SOCKET" 2>/dev/null)" = "$SYSLOG_SOCKET_INODE" ]; then
      rm -f "$SYSLOG_SOCKET"
    fi
  fi
}
