package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
)

// isProbe reports whether the request is the self-check Probe sends,
// "OPTIONS * HTTP/1.1": it is answered 204 with Allow, and not counted in
// the metrics nor logged in the access log.
func isProbe(ctx *fasthttp.RequestCtx, method []byte) bool {
	return string(method) == http.MethodOptions && string(ctx.Request.Header.RequestURI()) == "*"
}

// answerProbe answers OPTIONS * (RFC 9110 §9.3.7): the methods served.
func answerProbe(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	ctx.SetStatusCode(http.StatusNoContent)
}

// Probe checks that the content listener at addr accepts a connection and
// answers a request: it sends "OPTIONS * HTTP/1.1" and wants 204. It is the
// daemon's readiness check and watchdog self-check; it touches neither the
// cache nor the metrics.
func Probe(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("probe %s: %w", addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Write([]byte("OPTIONS * HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")); err != nil {
		return fmt.Errorf("probe %s: %w", addr, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("probe %s: reading the answer: %w", addr, err)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 204") {
		return fmt.Errorf("probe %s: answered %q, want 204", addr, strings.TrimSpace(line))
	}
	return nil
}
