package disk

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteBoth(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, tc := range []struct {
		name string
		a, b []byte
	}{
		{"header and payload", []byte("header"), big},
		{"empty payload", []byte("header"), nil},
		{"empty header", nil, []byte("payload")},
		{"both empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeBoth(f, tc.a, tc.b); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if want := append(append([]byte{}, tc.a...), tc.b...); !bytes.Equal(got, want) {
				t.Fatalf("file holds %d bytes, want %d (a %d, b %d)", len(got), len(want), len(tc.a), len(tc.b))
			}
		})
	}
	t.Run("read-only file", func(t *testing.T) {
		name := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		err = writeBoth(f, []byte("a"), []byte("b"))
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != name || !errors.Is(err, syscall.EBADF) {
			t.Fatalf("write to a read-only file: %v, want a PathError naming %s with EBADF", err, name)
		}
	})
}
