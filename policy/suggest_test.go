package policy_test

import (
	"testing"

	"github.com/peregrine-sec/peregrine/policy"
)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		bound int
		want  int
	}{{"", "", 9, 0}, {"name", "name", 9, 0}, {"nmae", "name", 9, 1}, {"nam", "name", 9, 1}, {"uuid", "uid", 9, 1},
		{"Name", "name", 9, 1}, {"", "abc", 9, 3}, {"abc", "", 9, 3}, {"ca", "abc", 9, 3}, {"pname", "name", 9, 1},
		{"abcdef", "a", 3, 3}} {
		if got := policy.EditDistance(tc.a, tc.b, tc.bound); got != tc.want {
			t.Errorf("EditDistance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.bound, got, tc.want)
		}
	}
}
