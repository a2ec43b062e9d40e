package runner

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateFlag is the test binary's -update flag. It is registered only inside test binaries
// (never in the dlvm binary) and only when no other package registered one first.
var updateFlag *bool

func init() {
	if testing.Testing() && flag.Lookup("update") == nil {
		updateFlag = flag.Bool("update", false, "rewrite golden files with the current output")
	}
}

// Update reports whether golden files should be rewritten: the test binary ran with -update.
// Test packages that import runner use this instead of declaring their own -update flag.
func Update() bool {
	if updateFlag != nil {
		return *updateFlag
	}
	if f := flag.Lookup("update"); f != nil {
		return f.Value.String() == "true"
	}
	return false
}

// Golden compares got, one command line per element, with the golden file at path (relative to
// the test's package directory, usually testdata/NAME.golden). With -update it rewrites the file
// instead.
func Golden(t testing.TB, path string, got []string) {
	t.Helper()
	text := strings.Join(got, "\n") + "\n"
	if Update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run the test with -update to create it)", path, err)
	}
	if string(want) != text {
		t.Fatalf("command lines differ from %s (rerun with -update if intended)\n--- want\n%s--- got\n%s", path, want, text)
	}
}
