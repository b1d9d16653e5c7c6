// Package suggest finds the likely intended word for a misspelt one, for
// "did you mean X?" hints in error messages about scenario files, work kinds
// and flags.
package suggest

import "strings"

// Closest returns the candidate closest to s (compared case-insensitively)
// when it is close enough to be a likely typo: an edit distance of at most
// max(2, len(s)/3). Otherwise, or for an empty s, it returns "".
func Closest(s string, candidates []string) string {
	if s == "" {
		return ""
	}
	low := strings.ToLower(s)
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := Distance(low, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

// Distance is the Levenshtein distance of a and b, counted in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
