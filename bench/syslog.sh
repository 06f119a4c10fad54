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

syslog_listening() {
  [ -S /dev/log ] || return 1
  python3 - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.connect("/dev/log")
    s.send(b"<15>tessera-bench: probe")
except OSError:
    sys.exit(1)
PY
}

ensure_syslog() {
  local dir=$1
  SYSLOG_FILE=""
  if syslog_listening; then
    SYSLOG_NOTE="syslog: the host's listener on /dev/log"
    return 0
  fi
  command -v rsyslogd >/dev/null || { echo "no listener on /dev/log and no rsyslogd (scripts/install-deps.sh)" >&2; return 1; }
  SYSLOG_FILE="$dir/syslog.log"
  rm -f /dev/log
  cat > "$dir/rsyslog.conf" <<CONF
module(load="imuxsock" SysSock.Name="/dev/log" SysSock.RateLimit.Interval="0")
*.* action(type="omfile" file="$SYSLOG_FILE")
CONF
  rsyslogd -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid"
  local i
  for i in $(seq 50); do syslog_listening && break; sleep 0.1; done
  syslog_listening || { echo "rsyslogd did not start listening on /dev/log" >&2; return 1; }
  SYSLOG_NOTE="syslog: none was listening on /dev/log; started $(rsyslogd -v | head -1 | cut -d, -f1 | awk '{print $1, $2}') on it (rate limit off, every line to a file), stopped at exit"
}

stop_syslog() {
  local dir=$1
  if [ -n "${SYSLOG_FILE:-}" ] && [ -e "$dir/rsyslog.pid" ]; then
    kill "$(cat "$dir/rsyslog.pid")" 2>/dev/null || true
    rm -f /dev/log
  fi
}
