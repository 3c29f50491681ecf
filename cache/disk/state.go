package disk

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// stateVersion is the format version of the state file.
const stateVersion = 1

// stateFile is the JSON document of the state file; see the package doc.
type stateFile struct {
	Version      int            `json:"version"`
	OutOfService []outOfService `json:"out_of_service"`
}

// outOfService is one disk taken out of service.
type outOfService struct {
	Path  string    `json:"path"`
	Since time.Time `json:"since"`
	Error string    `json:"error"`
}

// readState reads the state file at name; a missing file is an empty state.
func readState(fsys FS, name string) (stateFile, error) {
	st := stateFile{Version: stateVersion}
	f, err := fsys.Open(name)
	if notExist(err) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("disk: read state file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return st, fmt.Errorf("disk: read state file %s: %w", name, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("disk: state file %s is not valid: %w", name, err)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("disk: state file %s has version %d, want %d", name, st.Version, stateVersion)
	}
	for i := range st.OutOfService {
		st.OutOfService[i].Path = cleanPath(st.OutOfService[i].Path)
	}
	return st, nil
}

// writeState replaces the state file atomically: it writes a temporary file
// beside it, syncs it, renames it into place and syncs the directory.
func writeState(fsys FS, name string, st stateFile) error {
	st.Version = stateVersion
	if st.OutOfService == nil {
		st.OutOfService = []outOfService{}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("disk: encode state file %s: %w", name, err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(name)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("disk: write state file: %w", err)
	}
	tmp := name + ".tmp" + strconv.Itoa(os.Getpid())
	if err := writeFileSync(fsys, tmp, b); err != nil {
		return fmt.Errorf("disk: write state file: %w", err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("disk: write state file: %w", err)
	}
	if err := syncDir(fsys, dir); err != nil {
		return fmt.Errorf("disk: write state file: %w", err)
	}
	return nil
}

// writeFileSync creates (or truncates) name with content b and syncs it.
func writeFileSync(fsys FS, name string, b []byte) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		_ = fsys.Remove(name)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		_ = fsys.Remove(name)
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(fsys FS, dir string) error {
	f, err := fsys.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// cleanPath returns the absolute, cleaned form of a directory path, the form
// in which disks are compared and recorded.
func cleanPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// ClearOutOfService removes the disk at path from the state file stateFile,
// so that the next Open puts it back in service (a running Store is not
// affected). The state file is rewritten atomically. It is an error if the
// disk is not listed.
func ClearOutOfService(stateFile, path string) error {
	return clearOutOfService(OSFS{}, stateFile, path)
}

func clearOutOfService(fsys FS, name, path string) error {
	st, err := readState(fsys, name)
	if err != nil {
		return err
	}
	path = cleanPath(path)
	kept := st.OutOfService[:0]
	found := false
	for _, o := range st.OutOfService {
		if o.Path == path {
			found = true
			continue
		}
		kept = append(kept, o)
	}
	if !found {
		return fmt.Errorf("disk: %s is not listed out of service in %s", path, name)
	}
	st.OutOfService = kept
	return writeState(fsys, name, st)
}

// addOutOfService records the disk at path in the state file (read, modified
// and rewritten, so that entries cleared meanwhile stay cleared).
func addOutOfService(fsys FS, name, path string, since time.Time, cause error) error {
	st, err := readState(fsys, name)
	if err != nil {
		return err
	}
	for _, o := range st.OutOfService {
		if o.Path == path {
			return nil
		}
	}
	st.OutOfService = append(st.OutOfService, outOfService{Path: path, Since: since.UTC(), Error: cause.Error()})
	return writeState(fsys, name, st)
}
