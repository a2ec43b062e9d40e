package target

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestState(t *testing.T) {
	a := Access{InitiatorIQN: "iqn.2026-11.test:a", CHAPUser: "ua", CHAPSecret: "secret-a-12345"}
	b := Access{InitiatorIQN: "iqn.2026-11.test:b"}
	a2 := a
	a2.CHAPSecret = "secret-a-67890"
	tests := []struct {
		name string
		op   func(s *State) error
		want []LegExports
	}{
		{"allow", func(s *State) error { return s.Allow("l1", a) }, []LegExports{{"l1", []Access{a}}}},
		{"allow second", func(s *State) error { return s.Allow("l1", b) }, []LegExports{{"l1", []Access{a, b}}}},
		{"allow replaces secret", func(s *State) error { return s.Allow("l1", a2) }, []LegExports{{"l1", []Access{a2, b}}}},
		{"other leg sorted", func(s *State) error { return s.Set("l0", []Access{b}) }, []LegExports{{"l0", []Access{b}}, {"l1", []Access{a2, b}}}},
		{"deny", func(s *State) error { return s.Deny("l1", a.InitiatorIQN) }, []LegExports{{"l0", []Access{b}}, {"l1", []Access{b}}}},
		{"deny missing", func(s *State) error { return s.Deny("l9", "x") }, []LegExports{{"l0", []Access{b}}, {"l1", []Access{b}}}},
		{"deny last drops leg", func(s *State) error { return s.Deny("l1", b.InitiatorIQN) }, []LegExports{{"l0", []Access{b}}}},
		{"remove", func(s *State) error { return s.Remove("l0") }, []LegExports{}},
	}
	path := filepath.Join(t.TempDir(), "exports.json")
	s, err := OpenState(path)
	require.NoError(t, err)
	require.Empty(t, s.Legs(), "a missing file is an empty state")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.op(s))
			require.Equal(t, tt.want, s.Legs())
			re, err := OpenState(path)
			require.NoError(t, err)
			require.Equal(t, tt.want, re.Legs(), "the file holds the same state")
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		})
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temp files left behind")
}

func TestStateFailedSaveKeepsOldState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "exports.json")
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o700))
	s, err := OpenState(path)
	require.NoError(t, err)
	a := Access{InitiatorIQN: "iqn.2026-11.test:a"}
	require.NoError(t, s.Allow("l1", a))
	require.NoError(t, os.RemoveAll(filepath.Dir(path))) // saving now fails
	require.Error(t, s.Allow("l2", a))
	require.Equal(t, []LegExports{{"l1", []Access{a}}}, s.Legs())

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{"), 0o600))
	_, err = OpenState(bad)
	require.Error(t, err)

	mem, err := OpenState("")
	require.NoError(t, err)
	require.NoError(t, mem.Allow("l1", a))
	require.Equal(t, []LegExports{{"l1", []Access{a}}}, mem.Legs())
}
