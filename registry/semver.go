package registry

import (
	"strconv"
	"strings"
)

// compareSemver orders semantic versions (https://semver.org, §11); build metadata is ignored
// and versions that are not semantic compare as strings after those that are.
func compareSemver(a, b string) int {
	pa, oka := splitSemver(a)
	pb, okb := splitSemver(b)
	switch {
	case !oka || !okb:
		if oka != okb {
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	}
	for i := range 3 {
		if c := compareNum(pa.core[i], pb.core[i]); c != 0 {
			return c
		}
	}
	switch {
	case pa.pre == "" && pb.pre == "":
		return 0
	case pa.pre == "":
		return 1
	case pb.pre == "":
		return -1
	}
	xa, xb := strings.Split(pa.pre, "."), strings.Split(pb.pre, ".")
	for i := 0; i < len(xa) && i < len(xb); i++ {
		na, ea := strconv.ParseUint(xa[i], 10, 64)
		nb, eb := strconv.ParseUint(xb[i], 10, 64)
		var c int
		switch {
		case ea == nil && eb == nil:
			c = compareNum(na, nb)
		case ea == nil:
			c = -1
		case eb == nil:
			c = 1
		default:
			c = strings.Compare(xa[i], xb[i])
		}
		if c != 0 {
			return c
		}
	}
	return compareNum(uint64(len(xa)), uint64(len(xb)))
}

type semverParts struct {
	core [3]uint64
	pre  string
}

func splitSemver(v string) (semverParts, bool) {
	var p semverParts
	v, _, _ = strings.Cut(v, "+")
	v, p.pre, _ = strings.Cut(v, "-")
	nums := strings.Split(v, ".")
	if len(nums) != 3 {
		return p, false
	}
	for i, n := range nums {
		x, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return p, false
		}
		p.core[i] = x
	}
	return p, true
}

func compareNum(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
