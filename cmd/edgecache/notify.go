package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// notifier speaks systemd's sd_notify protocol: one datagram per state
// change to the unix socket named by $NOTIFY_SOCKET (a path, or an abstract
// socket written with a leading '@'). Without $NOTIFY_SOCKET (not run by
// systemd, or Type= is not notify) every method does nothing.
type notifier struct {
	addr     *net.UnixAddr // nil: not under systemd
	watchdog time.Duration // $WATCHDOG_USEC for this process; 0: no watchdog
}

// newNotifier reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID
// through getenv, for the process pid.
func newNotifier(getenv func(string) string, pid int) *notifier {
	n := &notifier{}
	if s := getenv("NOTIFY_SOCKET"); s != "" && (s[0] == '/' || s[0] == '@') {
		n.addr = &net.UnixAddr{Name: s, Net: "unixgram"}
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return n // the watchdog is another process's
	}
	if us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		n.watchdog = time.Duration(us) * time.Microsecond
	}
	return n
}

// send sends state lines (e.g. "READY=1", "STATUS=serving") as one
// datagram.
func (n *notifier) send(state ...string) error {
	if n == nil || n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(state, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// reloading says a reload began: RELOADING=1 with the monotonic clock, as
// Type=notify-reload services must and Type=notify ones may.
func (n *notifier) reloading() error {
	return n.send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(monotonicUsec(), 10))
}

// watchdogEvery is how often to send WATCHDOG=1: half the watchdog
// interval, or 0 without a watchdog.
func (n *notifier) watchdogEvery() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog / 2
}

// enabled reports whether a notify socket is set.
func (n *notifier) enabled() bool { return n != nil && n.addr != nil }
