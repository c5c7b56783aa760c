package ruletest

import (
	"os"
	"testing"
)

func readTestFile(t testing.TB, path string) *TestFile {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(path, src)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
