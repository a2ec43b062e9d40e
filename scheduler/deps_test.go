package scheduler

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportsStayPure fails when the scheduler picks up an import other than the standard
// library and model: placement must stay pure logic over a snapshot.
func TestImportsStayPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
			require.True(t, std || path == "github.com/dlvm-project/dlvm/model",
				"%s imports %s; the scheduler may import only the standard library and model", name, path)
		}
	}
}
