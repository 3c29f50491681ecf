package disk

import (
	"strconv"
	"strings"
	"testing"
)

// TestSecondMiss checks Options.SecondMiss: an unranked chunk is stored
// from its second Put on, a ranked one at once, and one-off Puts do not
// evict what is held.
func TestSecondMiss(t *testing.T) {
	tests := []struct {
		name       string
		secondMiss bool
		ops        string // u<i>: Put chunk i; r<i>: PutRanked chunk i (rank i)
		want       string // held(len(want))
		declined   int64
	}{
		{"off: a first Put stores", false, "u0", "u", 0},
		{"a first Put is declined", true, "u0", ".", 1},
		{"a second Put stores", true, "u0 u0", "u", 1},
		{"a ranked Put stores at once", true, "r0", "r", 0},
		{"one-off Puts evict nothing", true, "u0 u0 u1 u1 r2 r3 u4 u5 u6 u7", "uurr....", 6},
		{"off: one-off Puts evict", false, "u0 u1 r2 r3 u4 u5 u6 u7", "....uuuu", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dirs, state := mkdirs(t, 1, 4*2*blockSize)
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, CheckInterval: -1, SecondMiss: tc.secondMiss})
			for _, op := range strings.Fields(tc.ops) {
				i, err := strconv.Atoi(op[1:])
				if err != nil {
					t.Fatal(err)
				}
				rk := Rank{}
				if op[0] == 'r' {
					rk = Rank{Gen: 1, Rank: i}
				}
				if err := rput(s, i, rk); err != nil {
					t.Fatalf("op %s: %v", op, err)
				}
			}
			if got := held(s, len(tc.want)); got != tc.want {
				t.Fatalf("%s: held %s, want %s", tc.ops, got, tc.want)
			}
			if st := s.Stats(); st.Declined != tc.declined {
				t.Fatalf("declined %d, want %d", st.Declined, tc.declined)
			}
		})
	}
}
