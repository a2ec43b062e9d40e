package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExec(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		cmd      []string
		wantOut  string
		wantCode int // 0: no error
	}{
		{"ok", []string{"sh", "-c", "echo hi"}, "hi\n", 0},
		{"locale is C", []string{"sh", "-c", "echo $LC_ALL"}, "C\n", 0},
		{"exit code and stderr", []string{"sh", "-c", "echo out; echo bad >&2; exit 3"}, "out\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Exec{}.Run(ctx, tt.cmd[0], tt.cmd[1:]...)
			require.Equal(t, tt.wantOut, string(out))
			if tt.wantCode == 0 {
				require.NoError(t, err)
				return
			}
			var ee *ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, tt.wantCode, ee.Code)
			require.Equal(t, "bad", ee.Stderr)
			require.Contains(t, ee.Error(), "exit status 3: bad")
		})
	}
	t.Run("missing binary", func(t *testing.T) {
		_, err := Exec{}.Run(ctx, "/nonexistent/dlvm-no-such-cmd")
		require.Error(t, err)
		var ee *ExitError
		require.False(t, errors.As(err, &ee))
	})
}

func TestRecorder(t *testing.T) {
	errBoom := errors.New("boom")
	r := &Recorder{}
	r.On("lvm lvs", Reply{Stdout: "all"})
	r.On("lvm lvs vg", Reply{Stdout: "vg"})
	r.Once("lvm lvs vg", Reply{Stdout: "first"})
	r.Once("lvm lvs vg", Reply{Stdout: "second"})
	r.On("lvm lvremove", Reply{Err: errBoom})
	tests := []struct {
		line    []string
		want    string
		wantErr error
	}{
		{[]string{"lvm", "lvs", "vg"}, "first", nil},
		{[]string{"lvm", "lvs", "vg"}, "second", nil},
		{[]string{"lvm", "lvs", "vg"}, "vg", nil},
		{[]string{"lvm", "lvs", "other"}, "all", nil},
		{[]string{"lvm", "lvremove", "-f", "x"}, "", errBoom},
		{[]string{"true"}, "", nil},
	}
	for _, tt := range tests {
		out, err := r.Run(context.Background(), tt.line[0], tt.line[1:]...)
		require.Equal(t, tt.want, string(out), tt.line)
		require.ErrorIs(t, err, tt.wantErr)
		if tt.wantErr == nil {
			require.NoError(t, err)
		}
	}
	require.Equal(t, []string{"lvm lvs vg", "lvm lvs vg", "lvm lvs vg", "lvm lvs other", "lvm lvremove -f x", "true"}, r.Lines())

	r.Reset()
	r.Fallback = func(line string) (string, error) { return "fb:" + line, nil }
	out, err := r.Run(context.Background(), "echo", "x")
	require.NoError(t, err)
	require.Equal(t, "fb:echo x", string(out))
	require.Equal(t, []string{"echo x"}, r.Lines())
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	require.NoError(t, os.WriteFile(path, []byte("a b\nc\n"), 0o644))
	Golden(t, path, []string{"a b", "c"})

	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		Golden(ft, path, []string{"a b", "d"})
	}()
	require.True(t, ft.failed, "a differing golden must fail")
}

type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.failed = true
	panic("fatal")
}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
