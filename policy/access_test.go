package policy

import (
	"math/rand"
	"testing"
)

// TestParseInt checks the allocation-free ParseInt against the reference
// evaluator's parseInt.
func TestParseInt(t *testing.T) {
	in := []string{"", "0", "-0", "+0", "7", " 7", "\t-7", "7 ", "++7", "+-7", "-", "+", "1_0", "0x10",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "+18446744073709551615", "18446744073709551616", "-18446744073709551615", "١"}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.Intn(22))
		for j := range b {
			b[j] = "0123456789+- \t9x"[rng.Intn(16)]
		}
		in = append(in, string(b))
	}
	for _, s := range in {
		n, ok := ParseInt(s)
		wn, wok := parseInt(s)
		if n != wn || ok != wok {
			t.Fatalf("ParseInt(%q) = %d, %v; want %d, %v", s, n, ok, wn, wok)
		}
	}
}
