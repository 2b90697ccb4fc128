package glob

import (
	"path"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"github", "github", true},
		{"github", "gitlab", false},
		{"github", "github2", false},
		{"*", "", true},
		{"*", "anything", true},
		{"fs_*", "fs_read", true},
		{"fs_*", "fs_", true},
		{"fs_*", "f_read", false},
		{"*_file", "read_file", true},
		{"*_file", "read_files", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*b*c", "acb", false},
		{"?", "x", true},
		{"?", "ü", true},
		{"?", "", false},
		{"?", "xy", false},
		{"v?", "v2", true},
		{"*ab", "aab", true},
		{"*a*a*a*a*b", strings.Repeat("a", 40), false},
		{"**", "x", true},
		{"db.*.read", "db.users.read", true},
		{"db.*.read", "db.users.write", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.name); got != tt.want {
				t.Fatalf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func TestMatchAny(t *testing.T) {
	if !MatchAny(nil, "x") {
		t.Error("empty list must match everything")
	}
	if !MatchAny([]string{"a", "x*"}, "xy") || MatchAny([]string{"a", "b"}, "c") {
		t.Error("MatchAny disagrees with Match")
	}
}

func TestValidate(t *testing.T) {
	if Validate("") == nil || Validate("\xff") == nil || Validate("fs_*") != nil {
		t.Fatal("Validate accepts or refuses the wrong patterns")
	}
}

func TestMatch_NoAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Match("a*b?c*", "axxbycdd") }); n != 0 {
		t.Fatalf("Match allocates %.0f times", n)
	}
}

// FuzzMatch compares Match with path.Match on ASCII without '/', '[' and
// '\\', where their syntaxes agree (path.Match lets '*' stop inside a
// multi-byte character; Match does not).
func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "axbyc")
	f.Add("*_file", "read_file")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if strings.ContainsAny(pattern+name, "/[]\\") || !isASCII(pattern+name) {
			return
		}
		want, err := path.Match(pattern, name)
		if err != nil {
			return
		}
		if got := Match(pattern, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, path.Match = %v", pattern, name, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
