package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Size is a number of bytes. In YAML and on the command line it is written
// with a binary unit (100B, 64KiB, 512MiB, 4GiB, 1TiB), a decimal unit (KB,
// MB, GB, TB: powers of 1000) or as a plain integer of bytes. See ParseSize.
type Size int64

// Binary size units.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

// sizeUnits are the unit suffixes ParseSize accepts (case-sensitive).
var sizeUnits = map[string]Size{
	"B":   1,
	"KiB": KiB,
	"MiB": MiB,
	"GiB": GiB,
	"TiB": TiB,
	"KB":  1000,
	"MB":  1000 * 1000,
	"GB":  1000 * 1000 * 1000,
	"TB":  1000 * 1000 * 1000 * 1000,
}

// binaryUnits are the units String uses, largest first.
var binaryUnits = []struct {
	name string
	size Size
}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}

// ParseSize parses a size: decimal digits followed by an optional unit, with
// no space, sign or fraction: "512MiB", "4GiB", "64KiB", "1TiB", "100B",
// "1048576" (bytes), "10MB" (10,000,000 bytes). Units are B, KiB, MiB, GiB,
// TiB, KB, MB, GB and TB, case-sensitive. Negative sizes and sizes that do
// not fit in an int64 are errors.
func ParseSize(s string) (Size, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, unit := s[:i], s[i:]
	mult := Size(1)
	if unit != "" {
		mult = sizeUnits[unit]
	}
	if digits == "" || mult == 0 {
		if len(s) > 1 && s[0] == '-' {
			if _, err := ParseSize(s[1:]); err == nil {
				return 0, fmt.Errorf("%q is not a size: sizes cannot be negative", s)
			}
		}
		return 0, fmt.Errorf("%q is not a size (want e.g. 512KiB, 1MiB, 4GiB)", s)
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if errors.Is(err, strconv.ErrRange) || n > uint64(math.MaxInt64/mult) {
		return 0, fmt.Errorf("%q is too large (max %d bytes)", s, int64(math.MaxInt64))
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (want e.g. 512KiB, 1MiB, 4GiB)", s)
	}
	return Size(n) * mult, nil
}

// String formats s with the largest binary unit that divides it exactly:
// "512MiB", "1536KiB", "4GiB", "100B", "0B". ParseSize(s.String()) == s for
// every s >= 0.
func (s Size) String() string {
	if s > 0 {
		for _, u := range binaryUnits {
			if s%u.size == 0 {
				return strconv.FormatInt(int64(s/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// MarshalText formats s as String does.
func (s Size) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// UnmarshalText parses text with ParseSize; s is unchanged on error.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = n
	return nil
}
