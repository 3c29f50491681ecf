package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/origin"
	"edgecache/server"
)

// Options are what the admin listener reports on and acts upon.
type Options struct {
	Store  *cache.Store    // required
	Disk   *disk.Store     // nil without a disk tier
	Server *server.Server  // the content listener's server; required
	Origin *origin.Metered // nil: no origin fetch metrics
	// Upstreams, if set, returns the upstreams' state and counters (see
	// origin.Upstreams.Stats), exported as edgecache_upstream_* metrics
	// and in /stats. A func, so that upstreams replaced by a reload are
	// the ones reported.
	Upstreams func() []origin.UpstreamStats
	AccessLog *server.AccessLog    // nil without an access log
	Target    server.TargetOptions // how purge paths are normalized into keys, as the content listener does
	// Check, if set, reports whether the content listener answers (see
	// server.Probe); /readyz fails while it fails.
	Check   func(ctx context.Context) error
	Version string       // reported by /stats and edgecache_build_info
	Logger  *slog.Logger // default slog.Default()
	Start   time.Time    // process start; default New's time
	// Fill, if set, is the fill runner behind GET and POST /fill and the
	// edgecache_fill_* metrics; nil: the daemon does not fill.
	Fill FillControl
}

// Admin is the admin listener's handler and metrics registry. It is safe
// for concurrent use; use New.
type Admin struct {
	opt   Options
	reg   *prometheus.Registry
	mux   *http.ServeMux
	token atomic.Pointer[[sha256.Size]byte] // nil: no token required
	http  *http.Server
}

// New returns the admin listener over opt's parts, with its registry
// holding the edgecache collector and the Go runtime and process
// collectors.
func New(opt Options) *Admin {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Start.IsZero() {
		opt.Start = time.Now()
	}
	a := &Admin{opt: opt, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	a.reg.MustRegister(newCollector(&a.opt), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(opt.Logger.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError}))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.HandleFunc("GET /stats", a.stats)
	a.mux.HandleFunc("POST /purge", a.purge)
	a.registerFill()
	a.http = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(opt.Logger.Handler(), slog.LevelDebug)}
	return a
}

// SetToken sets the bearer token requests must carry; "" requires none.
func (a *Admin) SetToken(token string) {
	if token == "" {
		a.token.Store(nil)
		return
	}
	h := sha256.Sum256([]byte(token))
	a.token.Store(&h)
}

// ReadToken reads the token file at path: its content without surrounding
// whitespace, which must not be empty.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin token: %s is empty", path)
	}
	return tok, nil
}

// Registry returns the registry /metrics serves.
func (a *Admin) Registry() *prometheus.Registry { return a.reg }

// ServeHTTP checks the token, then serves the endpoint.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if want := a.token.Load(); want != nil {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgecache"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// Serve serves the admin endpoints on ln until Shutdown.
func (a *Admin) Serve(ln net.Listener) error {
	err := a.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the listener and waits for requests in progress, up to
// ctx.
func (a *Admin) Shutdown(ctx context.Context) error { return a.http.Shutdown(ctx) }

// readyz answers 200 "ready" when the disk index is loaded, a tier can
// serve and the content listener answers; else 503 with the reasons.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	var reasons []string
	if a.opt.Disk != nil {
		ds := a.opt.Disk.Stats()
		if !ds.Ready {
			reasons = append(reasons, "disk index loading")
		}
	}
	if a.opt.Store.Tiers().MemoryBudget <= 0 {
		reasons = append(reasons, "no usable tier")
	}
	if a.opt.Check != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := a.opt.Check(ctx)
		cancel()
		if err != nil {
			reasons = append(reasons, "content listener: "+err.Error())
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(reasons) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: "+strings.Join(reasons, "; "))
		return
	}
	fmt.Fprintln(w, "ready")
}

// PurgeRequest is the body of POST /purge (or its query parameters): one
// of Path and Prefix.
type PurgeRequest struct {
	// Path is a request path, normalized as the content listener does. Without
	// a query it removes every query variant of the path; with one, the
	// object of exactly that key.
	Path string `json:"path,omitempty"`
	// Prefix removes every object whose key (normalized path and kept
	// query) starts with it; it must start with "/".
	Prefix string `json:"prefix,omitempty"`
}

// PurgeResponse is the answer of POST /purge.
type PurgeResponse struct {
	PurgeRequest
	cache.Purged
}

// purge removes what the request names from every tier.
func (a *Admin) purge(w http.ResponseWriter, r *http.Request) {
	var req PurgeRequest
	if r.Header.Get("Content-Type") == "application/json" {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, "purge: body: %v", err)
			return
		}
	} else {
		req.Path, req.Prefix = r.URL.Query().Get("path"), r.URL.Query().Get("prefix")
	}
	var p cache.Purged
	switch {
	case (req.Path == "") == (req.Prefix == ""):
		httpError(w, http.StatusBadRequest, "purge: give one of path and prefix")
		return
	case req.Prefix != "":
		if !strings.HasPrefix(req.Prefix, "/") {
			httpError(w, http.StatusBadRequest, "purge: prefix %q must start with /", req.Prefix)
			return
		}
		p = a.opt.Store.PurgePrefix(req.Prefix)
	default:
		key, err := server.NormalizeTarget(req.Path, a.opt.Target)
		if err != nil {
			httpError(w, http.StatusBadRequest, "purge: path %q: %v", req.Path, err)
			return
		}
		key = strings.Clone(key)
		if strings.Contains(key, "?") {
			p = a.opt.Store.PurgeKey(key)
		} else {
			p = a.opt.Store.PurgePath(key)
		}
	}
	a.opt.Logger.Info("purged", "path", req.Path, "prefix", req.Prefix, "objects", p.Objects,
		"memory_chunks", p.MemoryChunks, "disk_chunks", p.DiskChunks, "client", r.RemoteAddr)
	writeJSON(w, PurgeResponse{req, p})
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, format+"\n", args...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a write error is the client's going away
}
