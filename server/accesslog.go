package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// AccessEntry is one line of the access log: one answer, logged once its
// body has been sent (or has failed).
type AccessEntry struct {
	Time          time.Time      // the request was read
	Client        netip.AddrPort // the client's address (zero if unknown)
	Method        string         // as sent
	Path          string         // the cache key: normalized path and kept query; empty for a request rejected before it was normalized
	Range         string         // the Range header as sent, if any
	Status        int            // the answer's status code
	Bytes         int64          // body bytes sent
	Cache         Result         // how it was served
	TTFB          time.Duration  // to the first body byte (see Metrics.TTFB)
	Duration      time.Duration  // to the last body byte
	UpstreamBytes int64          // body bytes of chunks no tier held: fetched from the origin for it or joined
}

// accessLine is the JSON form of an AccessEntry, in the documented field
// order. The format is stable: fields are only ever added.
type accessLine struct {
	Time          string  `json:"time"`
	Client        string  `json:"client"`
	Method        string  `json:"method"`
	Path          string  `json:"path"`
	Range         string  `json:"range"`
	Status        int     `json:"status"`
	Bytes         int64   `json:"bytes"`
	Cache         string  `json:"cache"`
	TTFB          float64 `json:"ttfb"`
	Duration      float64 `json:"duration"`
	UpstreamBytes int64   `json:"upstream_bytes"`
}

// MarshalJSON renders e as its access log line, without the newline.
func (e AccessEntry) MarshalJSON() ([]byte, error) {
	l := accessLine{Time: e.Time.UTC().Format(time.RFC3339Nano), Method: e.Method, Path: e.Path,
		Range: e.Range, Status: e.Status, Bytes: e.Bytes, Cache: e.Cache.String(),
		TTFB: e.TTFB.Seconds(), Duration: e.Duration.Seconds(), UpstreamBytes: e.UpstreamBytes}
	if e.Client.IsValid() {
		l.Client = e.Client.Addr().Unmap().String()
	}
	return json.Marshal(l)
}

// DefaultAccessLogBuffer is the number of lines an AccessLog holds waiting
// for its writer before it drops new ones.
const DefaultAccessLogBuffer = 8192

// AccessLog writes the access log: JSON lines appended to a file by its own
// goroutine, behind the responses. A line that finds the buffer full is
// dropped and counted (Dropped), so a slow disk never slows a response. It
// is safe for concurrent use; use OpenAccessLog.
type AccessLog struct {
	ch      chan AccessEntry
	reopen  chan reopenReq
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Int64
	written atomic.Int64
	errors  atomic.Int64
	lastErr atomic.Pointer[error]
}

type reopenReq struct {
	path string
	res  chan error
}

// OpenAccessLog opens (creating it if need be, mode 0640) the access log
// file at path for appending, with room for buffer lines waiting
// (DefaultAccessLogBuffer if buffer <= 0), and starts its writer.
func OpenAccessLog(path string, buffer int) (*AccessLog, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	if buffer <= 0 {
		buffer = DefaultAccessLogBuffer
	}
	l := &AccessLog{ch: make(chan AccessEntry, buffer), reopen: make(chan reopenReq),
		quit: make(chan struct{}), done: make(chan struct{})}
	go l.run(f)
	return l, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// add queues e, or drops and counts it if the buffer is full.
func (l *AccessLog) add(e AccessEntry) {
	select {
	case l.ch <- e:
	default:
		l.dropped.Add(1)
	}
}

// Dropped returns how many lines were dropped because the buffer was full.
func (l *AccessLog) Dropped() int64 { return l.dropped.Load() }

// Written returns how many lines were written.
func (l *AccessLog) Written() int64 { return l.written.Load() }

// Errors returns how many writes failed, and the last failure.
func (l *AccessLog) Errors() (int64, error) {
	var err error
	if p := l.lastErr.Load(); p != nil {
		err = *p
	}
	return l.errors.Load(), err
}

// Reopen flushes the lines written so far, closes the file and opens path
// (the same name, after logrotate moved the old file away, or a new one).
// If path cannot be opened, the log keeps writing to its old file and the
// error is returned.
func (l *AccessLog) Reopen(path string) error {
	res := make(chan error, 1)
	select {
	case l.reopen <- reopenReq{path, res}:
		return <-res
	case <-l.done:
		return errors.New("access log: closed")
	}
}

// Close writes the lines queued so far, closes the file and stops the
// writer. Lines added after Close are dropped. Close is idempotent.
func (l *AccessLog) Close() error {
	l.once.Do(func() { close(l.quit) })
	<-l.done
	return nil
}

// run is the writer: it encodes queued lines into a buffer and writes the
// buffer out whenever the queue is empty.
func (l *AccessLog) run(f *os.File) {
	defer close(l.done)
	w := bufio.NewWriterSize(f, 64<<10)
	fail := func(err error) {
		if err != nil {
			l.errors.Add(1)
			l.lastErr.Store(&err)
		}
	}
	write := func(e AccessEntry) {
		b, _ := e.MarshalJSON() // strings and numbers always encode
		w.Write(b)
		if err := w.WriteByte('\n'); err != nil {
			fail(fmt.Errorf("access log: %w", err))
			w.Reset(f) // drop what did not fit rather than fail forever
			return
		}
		l.written.Add(1)
	}
	for {
		select {
		case e := <-l.ch:
			write(e)
			if len(l.ch) == 0 {
				fail(w.Flush())
			}
		case r := <-l.reopen:
			for len(l.ch) > 0 {
				write(<-l.ch)
			}
			fail(w.Flush())
			nf, err := openAppend(r.path)
			if err == nil {
				f.Close()
				f = nf
				w.Reset(f)
			}
			r.res <- err
		case <-l.quit:
			for len(l.ch) > 0 {
				write(<-l.ch)
			}
			fail(w.Flush())
			f.Close()
			return
		}
	}
}
