package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"edgecache/fill"
)

// FillControl is the daemon's fill runner as the admin listener drives it
// (package fill does the work; the daemon implements this over a
// fill.Runner, tests over anything).
type FillControl interface {
	// StartFill loads the manifest (a file path or an http(s) URL; "" for
	// the configured one), starts a fill job over it in the background and
	// returns the job's first Status. A job given a limit > 0 is cut off
	// after that long. The error wraps fill.ErrBusy if a job runs,
	// ErrNoManifest if there is no manifest to load, else it says why the
	// manifest could not be loaded or was refused.
	StartFill(ctx context.Context, manifest string, limit time.Duration) (fill.Status, error)
	// FillStatus returns the state of the job running, else of the last
	// one (the newest report, after a restart); fill.StateIdle if none.
	FillStatus() fill.Status
	// FillCounters returns the runner's counters, for edgecache_fill_*.
	FillCounters() *fill.Counters
}

// ErrNoManifest is wrapped by StartFill's error when no manifest was given
// and none is configured.
var ErrNoManifest = errors.New("no manifest given and fill.manifest is not set")

// FillRequest is the body of POST /fill (or its query parameters); both
// fields are optional.
type FillRequest struct {
	// Manifest is a file path (read by the daemon) or an http:// or
	// https:// URL; empty: the configured fill.manifest.
	Manifest string `json:"manifest,omitempty"`
	// Limit bounds the job's run, as a Go duration ("4h"): it is cut off
	// after that long. Empty: no bound.
	Limit string `json:"limit,omitempty"`
}

// registerFill adds the fill endpoints to the mux.
func (a *Admin) registerFill() {
	a.mux.HandleFunc("GET /fill", a.fillStatus)
	a.mux.HandleFunc("POST /fill", a.fillStart)
}

// errFillOff answers a fill endpoint of a daemon that does not fill.
func errFillOff(w http.ResponseWriter) {
	httpError(w, http.StatusNotFound, "fill: not configured on this daemon (set fill.manifest or fill.state_dir)")
}

// fillStatus answers the fill job's state.
func (a *Admin) fillStatus(w http.ResponseWriter, _ *http.Request) {
	if a.opt.Fill == nil {
		errFillOff(w)
		return
	}
	writeJSON(w, a.opt.Fill.FillStatus())
}

// fillStart starts a fill job: 202 and its first Status, 409 if one runs,
// 400 for a bad request or no manifest, 422 if the manifest could not be
// loaded or was refused.
func (a *Admin) fillStart(w http.ResponseWriter, r *http.Request) {
	if a.opt.Fill == nil {
		errFillOff(w)
		return
	}
	var req FillRequest
	if r.Header.Get("Content-Type") == "application/json" {
		err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req)
		if err != nil && !errors.Is(err, io.EOF) {
			httpError(w, http.StatusBadRequest, "fill: body: %v", err)
			return
		}
	} else {
		req.Manifest, req.Limit = r.URL.Query().Get("manifest"), r.URL.Query().Get("limit")
	}
	var limit time.Duration
	if req.Limit != "" {
		var err error
		if limit, err = time.ParseDuration(req.Limit); err != nil || limit <= 0 {
			httpError(w, http.StatusBadRequest, "fill: limit %q: want a positive duration, e.g. 4h", req.Limit)
			return
		}
	}
	st, err := a.opt.Fill.StartFill(r.Context(), req.Manifest, limit)
	switch {
	case errors.Is(err, fill.ErrBusy):
		cur := a.opt.Fill.FillStatus()
		httpError(w, http.StatusConflict, "fill: a job is already running (id %s, %d of %d files done)", cur.ID, cur.FilesDone, cur.FilesTotal)
		return
	case errors.Is(err, ErrNoManifest):
		httpError(w, http.StatusBadRequest, "fill: %v", err)
		return
	case err != nil:
		httpError(w, http.StatusUnprocessableEntity, "fill: %v", err)
		return
	}
	a.opt.Logger.Info("fill job started through the admin listener", "id", st.ID, "manifest", st.Manifest,
		"limit", limit, "client", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(st)
}
