package layering

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/dlvm-project/dlvm/"

// allowed lists, for each package, the dlvm packages its non-test code may import. A package
// missing from the table fails the test, so a new package must take its place in the graph.
var allowed = map[string][]string{
	"model":                {},
	"etc":                  {},
	"internal/runner":      {},
	"internal/layering":    {},
	"internal/agentauth":   {},
	"db":                   {"model"},
	"db/dbtest":            {"db"},
	"keystone":             {"model"},
	"scheduler":            {"model"},
	"volume/rpc":           {},
	"volume/pool":          {"model", "internal/runner"},
	"volume/target":        {"model", "internal/runner"},
	"volume/agent":         {"model", "internal/agentauth", "volume/pool", "volume/rpc", "volume/target"},
	"volume/backup":        {"model"},
	"volume/api":           {"model", "db", "volume/rpc", "volume/backup"},
	"volume/nova":          {},
	"volume":               {"model", "db", "internal/agentauth", "scheduler", "volume/pool", "volume/rpc", "volume/target", "connector", "volume/backup"},
	"scheduler/service":    {"model", "db", "scheduler", "volume/rpc"},
	"apiv3":                {"model", "db", "volume/api"},
	"connector":            {},
	"connector/blockdev":   {},
	"connector/assemble":   {"connector/blockdev"},
	"connector/export":     {"connector/blockdev", "internal/runner"},
	"connector/iscsi":      {"connector/blockdev"},
	"connector/kernel":     {"connector", "internal/runner", "model"},
	"connector/daemon":     {"connector", "internal/agentauth"},
	"connector/userspace":  {"connector", "connector/assemble", "connector/blockdev", "connector/export", "connector/iscsi"},
	"tempest":              {},
	"test/kernel":          {},
	"test/kerneltest":      {"internal/runner"},
	"test/kernelconnector": {},
	"cmd/dlvm":             {"*"},
	"cmd/dlvm-bench":       {},
}

// clientSide packages run on compute hosts or drive the service from outside: they may import
// only each other and the neutral bottom (model, internal/runner, internal/agentauth), never
// server code.
var clientSide = []string{"tempest", "connector"}

var neutral = []string{"model", "internal/runner", "internal/agentauth"}

func isClientSide(rel string) bool {
	for _, c := range clientSide {
		if rel == c || strings.HasPrefix(rel, c+"/") {
			return true
		}
	}
	return false
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	return dir
}

func TestImportsPointOneWay(t *testing.T) {
	root := repoRoot(t)
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		seen++
		rules, ok := allowed[rel]
		if !ok {
			t.Errorf("package %s is not in the layering table; give it its place", rel)
			return nil
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok || slices.Contains(rules, "*") {
				continue
			}
			if !slices.Contains(rules, dep) {
				t.Errorf("%s imports %s; allowed: %v", rel, dep, rules)
			}
		}
		if isClientSide(rel) {
			for _, imp := range append(pkg.Imports, pkg.TestImports...) {
				dep, ok := strings.CutPrefix(imp, module)
				if ok && !isClientSide(dep) && !slices.Contains(neutral, dep) {
					t.Errorf("%s is client side but imports server package %s", rel, dep)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, seen, 10, "walked the repository")
}
