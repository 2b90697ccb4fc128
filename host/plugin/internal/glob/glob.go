// Package glob matches server and tool names against binding patterns.
//
// A pattern is literal text in which '*' matches any run of characters
// (including none) and '?' matches exactly one character. There are no
// character classes and no escapes: MCP server and tool names never contain
// '*' or '?'. Matching does not allocate and is safe for concurrent use.
package glob

import (
	"errors"
	"unicode/utf8"
)

// ErrEmpty is returned by Validate for an empty pattern.
var ErrEmpty = errors.New("empty pattern")

// Validate reports whether pattern is usable: non-empty, valid UTF-8.
func Validate(pattern string) error {
	if pattern == "" {
		return ErrEmpty
	}
	if !utf8.ValidString(pattern) {
		return errors.New("pattern is not valid UTF-8")
	}
	return nil
}

// Match reports whether name matches pattern.
func Match(pattern, name string) bool {
	// Greedy matching with one backtrack point, the last '*' seen: on a
	// mismatch the star absorbs one more character. Linear in practice and
	// O(len(pattern)*len(name)) at worst.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				star, mark = p, n
				p++
				continue
			case '?':
				_, size := utf8.DecodeRuneInString(name[n:])
				p, n = p+1, n+size
				continue
			default:
				if c == name[n] {
					p, n = p+1, n+1
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		_, size := utf8.DecodeRuneInString(name[mark:])
		mark += size
		p, n = star+1, mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MatchAny reports whether name matches one of patterns. An empty list
// matches every name.
func MatchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}
