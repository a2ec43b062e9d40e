package api

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

func TestDefaultTypeCreatedOnce(t *testing.T) {
	e := newEnv(t, "sqlite", Options{DefaultVolumeType: "standard"})
	def, err := e.api.GetType(e.ctx, alice, "default")
	require.NoError(t, err)
	require.Equal(t, "standard", def.Name)
	require.True(t, def.IsPublic)
	require.Empty(t, def.ExtraSpecs)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err = New(e.db, rpc.NewInproc(log), Options{DefaultVolumeType: "standard"}, log)
	require.NoError(t, err)
	types, err := e.api.ListTypes(e.ctx, admin, nil)
	require.NoError(t, err)
	require.Len(t, types, 1, "a second New does not duplicate the default type")

	err = e.api.DeleteType(e.ctx, admin, def.ID)
	requireKind(t, err, model.ErrInvalid)
	_, err = e.api.UpdateType(e.ctx, admin, def.ID, ptr("other"), nil, nil)
	requireKind(t, err, model.ErrInvalid)
}

func TestNewRejectsBadOptions(t *testing.T) {
	e := sqlite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, o := range map[string]Options{
		"mirrors":  {DefaultLayout: model.Layout{Mirrors: 4}},
		"chunk":    {DefaultLayout: model.Layout{ChunkKiB: 100}},
		"resource": {QuotaDefaults: map[string]int64{"bogus": 1}},
		"negative": {QuotaDefaults: map[string]int64{model.ResVolumes: -2}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(e.db, e.bus, o, log)
			require.Error(t, err)
		})
	}
}

func TestValidateExtraSpecs(t *testing.T) {
	tests := []struct {
		specs map[string]string
		ok    bool
	}{
		{map[string]string{}, true},
		{map[string]string{model.SpecMirrors: "1", model.SpecStripes: "16", model.SpecChunkKiB: "4096"}, true},
		{map[string]string{model.SpecMirrors: "3", model.SpecChunkKiB: "4"}, true},
		{map[string]string{model.SpecMirrors: " 2 "}, true},
		{map[string]string{model.SpecMirrors: "0"}, false},
		{map[string]string{model.SpecMirrors: "4"}, false},
		{map[string]string{model.SpecMirrors: "two"}, false},
		{map[string]string{model.SpecStripes: "0"}, false},
		{map[string]string{model.SpecStripes: "17"}, false},
		{map[string]string{model.SpecChunkKiB: "2"}, false},
		{map[string]string{model.SpecChunkKiB: "8192"}, false},
		{map[string]string{model.SpecChunkKiB: "768"}, false},
		{map[string]string{"": "x"}, false},
		{map[string]string{"k": strings.Repeat("x", 256)}, false},
		{map[string]string{"volume_backend_name": "dlvm", "anything": "goes"}, true},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(strings.TrimSpace(mapString(tc.specs)), "/", "_"), func(t *testing.T) {
			err := ValidateExtraSpecs(tc.specs)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			requireKind(t, err, model.ErrInvalid)
		})
	}
}

func mapString(m map[string]string) string {
	var b strings.Builder
	for k, v := range m {
		if len(v) > 10 {
			v = v[:10]
		}
		b.WriteString(k + "=" + v + " ")
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func TestTypeLifecycle(t *testing.T) {
	e := sqlite(t)
	_, err := e.api.CreateType(e.ctx, alice, "gold", "", true, nil)
	requireKind(t, err, model.ErrForbidden)

	gold, err := e.api.CreateType(e.ctx, admin, "gold", "fast", true, map[string]string{model.SpecMirrors: "3"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{model.SpecMirrors: "3"}, gold.ExtraSpecs)
	secret, err := e.api.CreateType(e.ctx, admin, "secret", "", false, nil)
	require.NoError(t, err)

	tests := []struct {
		name string
		call func() error
		kind error
		msg  string
	}{
		{"duplicate", func() error { _, err := e.api.CreateType(e.ctx, admin, "gold", "", true, nil); return err }, model.ErrConflict, "Volume Type gold already exists."},
		{"empty name", func() error { _, err := e.api.CreateType(e.ctx, admin, " ", "", true, nil); return err }, model.ErrInvalid, ""},
		{"long name", func() error {
			_, err := e.api.CreateType(e.ctx, admin, strings.Repeat("n", 256), "", true, nil)
			return err
		}, model.ErrInvalid, ""},
		{"bad spec", func() error {
			_, err := e.api.CreateType(e.ctx, admin, "x", "", true, map[string]string{model.SpecStripes: "99"})
			return err
		}, model.ErrInvalid, ""},
		{"rename to existing", func() error { _, err := e.api.UpdateType(e.ctx, admin, secret.ID, ptr("gold"), nil, nil); return err }, model.ErrConflict, ""},
		{"private hidden", func() error { _, err := e.api.GetType(e.ctx, alice, secret.ID); return err }, model.ErrNotFound, ""},
		{"private hidden by name", func() error { _, err := e.api.GetType(e.ctx, alice, "secret"); return err }, model.ErrNotFound, ""},
		{"member sets specs", func() error { _, err := e.api.SetExtraSpecs(e.ctx, alice, gold.ID, nil); return err }, model.ErrForbidden, ""},
		{"bad spec update", func() error {
			_, err := e.api.SetExtraSpecs(e.ctx, admin, gold.ID, map[string]string{model.SpecChunkKiB: "3"})
			return err
		}, model.ErrInvalid, ""},
		{"missing spec", func() error { return e.api.DeleteExtraSpec(e.ctx, admin, gold.ID, "nope") }, model.ErrNotFound, ""},
		{"missing type", func() error { return e.api.DeleteType(e.ctx, admin, "nope") }, model.ErrNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			requireKind(t, err, tc.kind)
			if tc.msg != "" {
				require.Equal(t, tc.msg, model.UserMessage(err))
			}
		})
	}

	got, err := e.api.GetType(e.ctx, admin, "secret")
	require.NoError(t, err)
	require.Equal(t, secret.ID, got.ID)
	pub, err := e.api.ListTypes(e.ctx, alice, ptr(false))
	require.NoError(t, err)
	for _, vt := range pub {
		require.True(t, vt.IsPublic, "a member sees public types only")
	}
	all, err := e.api.ListTypes(e.ctx, admin, nil)
	require.NoError(t, err)
	require.Len(t, all, 3)

	specs, err := e.api.SetExtraSpecs(e.ctx, admin, gold.ID, map[string]string{model.SpecStripes: "2"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{model.SpecMirrors: "3", model.SpecStripes: "2"}, specs)
	require.NoError(t, e.api.DeleteExtraSpec(e.ctx, admin, gold.ID, model.SpecMirrors))

	upd, err := e.api.UpdateType(e.ctx, admin, gold.ID, ptr("platinum"), ptr("faster"), ptr(false))
	require.NoError(t, err)
	require.Equal(t, "platinum", upd.Name)
	require.Equal(t, "faster", upd.Description)
	require.False(t, upd.IsPublic)

	v, err := e.api.CreateVolume(e.ctx, admin, CreateVolumeRequest{Size: 1, VolumeType: "platinum"})
	require.NoError(t, err)
	require.Equal(t, model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 512}, v.Layout)
	err = e.api.DeleteType(e.ctx, admin, gold.ID)
	requireKind(t, err, model.ErrInvalid)
	require.Equal(t, "Target volume type is still in use.", model.UserMessage(err))

	require.NoError(t, e.api.DeleteType(e.ctx, admin, secret.ID))
	_, err = e.api.GetType(e.ctx, admin, secret.ID)
	requireKind(t, err, model.ErrNotFound)
}
