package interrupt

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// errTruncated is returned when the module ends in the middle of something.
var errTruncated = errors.New("unexpected end of module")

// reader decodes the Wasm binary format. Errors are sticky: after the first
// one every read returns zero values, so callers check r.err once per unit.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(errTruncated)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits || (shift+7 > bits && uint64(c&0x7f)>>(bits-shift) != 0) {
			r.fail(fmt.Errorf("integer too large at offset %d", r.off-1))
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

// skipSLEB skips a signed LEB128 number of at most bits bits.
func (r *reader) skipSLEB(bits uint) {
	for n := uint(0); ; n += 7 {
		c := r.byte()
		if r.err != nil {
			return
		}
		if n >= bits {
			r.fail(fmt.Errorf("integer too large at offset %d", r.off-1))
			return
		}
		if c&0x80 == 0 {
			return
		}
	}
}

func (r *reader) name() string {
	s := r.bytes(uint64(r.u32()))
	if r.err == nil && !utf8.Valid(s) {
		r.fail(fmt.Errorf("name at offset %d is not UTF-8", r.off))
	}
	return string(s)
}

// limits reads memory or table limits and returns min and, if present, max.
func (r *reader) limits() (min uint64, max uint64, hasMax bool) {
	flags := r.byte()
	if flags > 7 {
		r.fail(fmt.Errorf("bad limits flags %#x", flags))
		return 0, 0, false
	}
	min = r.uleb(64)
	if flags&1 != 0 {
		max, hasMax = r.uleb(64), true
	}
	return min, max, hasMax
}

// appendU32 appends v as unsigned LEB128.
func appendU32(dst []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

func appendName(dst []byte, s string) []byte {
	return append(appendU32(dst, uint32(len(s))), s...)
}
