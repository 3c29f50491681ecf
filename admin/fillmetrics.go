package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgecache/fill"
)

// Fill metrics, read on scrape from the runner's fill.Counters and Status.
var (
	dFillBytes      = desc("fill_bytes_total", "Bytes fill jobs asked of the origin.")
	dFillFiles      = desc("fill_files_total", "Files fill jobs filled and verified (SHA-256).")
	dFillResident   = desc("fill_files_resident_total", "Files fill jobs found already held.")
	dFillErrors     = desc("fill_errors_total", "Files fill jobs failed to fill.")
	dFillMismatch   = desc("fill_sha256_mismatches_total", "Files whose bytes did not match the manifest's SHA-256 (discarded).")
	dFillJobs       = desc("fill_jobs_total", "Fill job runs started.")
	dFillCompleted  = desc("fill_jobs_completed_total", "Fill job runs that completed.")
	dFillRunning    = desc("fill_running", "1 while a fill job runs.")
	dFillState      = desc("fill_state", "1 for the state of the fill job running or of the last one (idle, running, completed, failed, cut_off, cancelled), 0 for the others.", "state")
	dFillLastDone   = desc("fill_last_completion_timestamp_seconds", "Unix time a fill job last completed (kept across restarts through the job reports); 0: never.")
	dFillFilesLeft  = desc("fill_job_files_left", "Files of the current or last fill job not held yet.")
	dFillBytesTotal = desc("fill_job_size_bytes", "Bytes of the current or last fill job's manifest.")
	dFillBytesDone  = desc("fill_job_done_bytes", "Bytes of the current or last fill job's manifest held.")
)

// fillStates are the values of the state label of edgecache_fill_state.
var fillStates = []fill.JobState{fill.StateIdle, fill.StateRunning, fill.StateCompleted,
	fill.StateFailed, fill.StateCutOff, fill.StateCancelled}

// collectFill sends the fill metrics of f.
func collectFill(ch chan<- prometheus.Metric, f FillControl) {
	c := f.FillCounters()
	ch <- counter(dFillBytes, c.BytesFetched.Load())
	ch <- counter(dFillFiles, c.FilesFilled.Load())
	ch <- counter(dFillResident, c.FilesResident.Load())
	ch <- counter(dFillErrors, c.Errors.Load())
	ch <- counter(dFillMismatch, c.SHA256Mismatches.Load())
	ch <- counter(dFillJobs, c.Jobs.Load())
	ch <- counter(dFillCompleted, c.JobsCompleted.Load())
	ch <- gauge(dFillRunning, c.Running.Load())
	ch <- gauge(dFillLastDone, c.LastCompletion.Load())
	st := f.FillStatus()
	for _, s := range fillStates {
		v := int64(0)
		if st.State == s {
			v = 1
		}
		ch <- gauge(dFillState, v, string(s))
	}
	ch <- gauge(dFillFilesLeft, int64(st.FilesTotal-st.FilesDone))
	ch <- gauge(dFillBytesTotal, st.BytesTotal)
	ch <- gauge(dFillBytesDone, st.BytesDone)
}
