package logbuf

import (
	"strings"
	"testing"
)

func TestHeadTail(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"empty", 4, nil, ""},
		{"head only", 4, []string{"ab", "c"}, "abc"},
		{"head and tail", 4, []string{"abcdef"}, "abcdef"},
		{"exactly full", 2, []string{"abcd"}, "abcd"},
		{"ring wraps", 2, []string{"ab", "cd", "e", "f", "g"}, "ab\n[... 3 bytes elided ...]\nfg"},
		{"big write", 3, []string{"0123456789"}, "012\n[... 4 bytes elided ...]\n789"},
		{"big write after wrap", 3, []string{"0123456", "abcdefgh"}, "012\n[... 9 bytes elided ...]\nfgh"},
	}
	for _, tt := range tests {
		b := NewHeadTail(tt.max)
		for _, w := range tt.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tt.name, n, err)
			}
		}
		if got := b.String(); got != tt.want {
			t.Errorf("%s: String = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHeadTailKeepsEnds(t *testing.T) {
	b := NewHeadTail(64 << 10)
	for i := 0; i < 100000; i++ {
		b.Write([]byte("verifier line 0123456789\n"))
	}
	b.Write([]byte("REJECTED: invalid mem access\n"))
	s := b.String()
	if !strings.HasSuffix(s, "REJECTED: invalid mem access\n") || !strings.HasPrefix(s, "verifier line") {
		t.Errorf("ends lost: %q ... %q", s[:40], s[len(s)-40:])
	}
	if len(s) > 2*(64<<10)+100 {
		t.Errorf("len = %d, want <= 128 KiB + marker", len(s))
	}
}
