package disk

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writeBoth writes a then b to f: with writev(2) where f is an *os.File,
// one system call for a chunk's header and payload instead of two.
func writeBoth(f File, a, b []byte) error {
	of, ok := f.(*os.File)
	if !ok {
		return writeEach(f, a, b)
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return writeEach(f, a, b)
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		iov := [][]byte{a, b}
		for len(iov[0])+len(iov[1]) > 0 {
			n, err := unix.Writev(int(fd), iov)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = &os.PathError{Op: "write", Path: of.Name(), Err: err}
				return true
			}
			if n == 0 {
				werr = &os.PathError{Op: "write", Path: of.Name(), Err: io.ErrShortWrite}
				return true
			}
			for _, i := range []int{0, 1} {
				k := min(n, len(iov[i]))
				iov[i], n = iov[i][k:], n-k
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
