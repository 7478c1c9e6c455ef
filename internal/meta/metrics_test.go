package meta

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMetricsDocumented: every metric the module registers (a palio_
// name in a prometheus Opts' Name field) is documented in the README of
// its package (or of the module root, for the example), so that an
// operator can look up any series /metrics shows.
func TestMetricsDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	named := regexp.MustCompile(`Name:\s*"(palio_[a-z0-9_]+)"`)
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range named.FindAllStringSubmatch(string(src), -1) {
			found++
			dir := filepath.Dir(path)
			readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
			if !strings.Contains(string(readme), m[1]) {
				rel, _ := filepath.Rel(root, dir)
				t.Errorf("%s registers %s, which %s/README.md does not document", filepath.Base(path), m[1], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 20 {
		t.Fatalf("found %d metric names: the pattern no longer matches how metrics are declared", found)
	}
}
