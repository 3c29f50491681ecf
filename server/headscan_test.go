package server

import (
	"bytes"
	"testing"
)

// FuzzHeadScan checks the bare-LF scanner (clientConn.Read) on any bytes a
// client sends: it never panics; its verdict does not depend on how the
// bytes were split across reads; and a header block whose every line ends
// with CRLF (one blank line at most before it, as RFC 9112 §2.2 allows) is
// never taken for a bad one.
func FuzzHeadScan(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"\r\nGET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n\n",
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var whole, split headScan
		scan(&whole, in, len(in)+1)
		scan(&split, in, int(step)%7+1)
		if whole != split {
			t.Fatalf("%q: fed whole %+v, fed in parts of %d %+v", in, whole, int(step)%7+1, split)
		}

		// The same lines, each ended with CRLF, then a blank line.
		var block []byte
		for _, l := range bytes.Split(in, []byte("\n")) {
			l = bytes.Trim(bytes.ReplaceAll(l, []byte("\r"), nil), " ")
			if len(l) > 0 {
				block = append(append(block, l...), "\r\n"...)
			}
		}
		if len(block) == 0 {
			return
		}
		block = append(block, "\r\n"...)
		var good headScan
		scan(&good, block, int(step)%7+1)
		if good.mode == scanBad {
			t.Fatalf("%q: a CRLF block scanned as bad: %+v", block, good)
		}
		if good.mode == scanHead && good.ended != 1 {
			t.Fatalf("%q: %d blocks ended, want 1", block, good.ended)
		}
	})
}

// scan feeds in to s in parts of n bytes while s is reading a header block,
// as clientConn.Read does.
func scan(s *headScan, in []byte, n int) {
	for len(in) > 0 && s.mode == scanHead {
		k := min(n, len(in))
		s.feed(in[:k])
		in = in[k:]
	}
}
