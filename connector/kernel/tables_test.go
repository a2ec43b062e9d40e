package kernel

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/model"
)

func TestTables(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"raid1 with bitmap", RaidTable([]RaidDev{{"/dev/mapper/m0", "/dev/mapper/d0"}, {"/dev/mapper/m1", "/dev/mapper/d1"}}, 65536, 1024, nil),
			"0 65536 raid raid1 3 0 region_size 1024 2 /dev/mapper/m0 /dev/mapper/d0 /dev/mapper/m1 /dev/mapper/d1"},
		{"raid1 rebuilding slot 1", RaidTable([]RaidDev{{"-", "/dev/sdb"}, {"-", "/dev/sdc"}}, 2048, 1024, []int{1}),
			"0 2048 raid raid1 5 0 region_size 1024 rebuild 1 2 - /dev/sdb - /dev/sdc"},
		{"striped", StripeTable([]string{"/dev/mapper/g0", "/dev/mapper/g1"}, 1024, 131072),
			"0 131072 striped 2 1024 /dev/mapper/g0 0 /dev/mapper/g1 0"},
		{"linear", LinearTable("/dev/sdb", 2048, 4096), "0 4096 linear /dev/sdb 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, tt.got) })
	}
}

func TestGeometry(t *testing.T) {
	tests := []struct {
		name    string
		p       connector.Plan
		want    Geometry
		legSize int64
		wantErr error
	}{
		{"1x1", connector.Plan{SizeBytes: 64 * mib, Stripes: 1, Mirrors: 1}, Geometry{1024, 131072, 131072, 131072}, 64 * mib, nil},
		{"2x2", connector.Plan{SizeBytes: 64 * mib, Stripes: 2, Mirrors: 2, ChunkKiB: 64}, Geometry{128, 65536, 131072, 131072}, 33 * mib, nil},
		{"size rounds up to chunks", connector.Plan{SizeBytes: 3*mib + 512, Stripes: 2, Mirrors: 1, ChunkKiB: 1024}, Geometry{2048, 4096, 8192, 6145}, 2 * mib, nil},
		{"bad chunk", connector.Plan{SizeBytes: mib, Stripes: 1, Mirrors: 1, ChunkKiB: 3}, Geometry{}, 0, model.ErrInvalid},
		{"bad size", connector.Plan{SizeBytes: 100, Stripes: 1, Mirrors: 1}, Geometry{}, 0, model.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := GeometryOf(tt.p)
			require.ErrorIs(t, err, tt.wantErr)
			require.Equal(t, tt.want, g)
			if err == nil {
				n, err := LegBytes(tt.p)
				require.NoError(t, err)
				require.Equal(t, tt.legSize, n)
			}
		})
	}
	require.Equal(t, int64(1024), RegionSectors(1<<30))
	require.Equal(t, int64(4096), RegionSectors(1<<33), "4 TiB keeps the bitmap at 2^21 regions")
}

func TestParse(t *testing.T) {
	w, _ := newWorld()
	w.sessions = []fakeSession{{"iqn.x:a", "10.0.0.1:3260", "sdb"}, {"iqn.x:b", "[::1]:3260", "sdc"}}
	ss := ParseSessions(w.sessionText())
	require.Equal(t, []Session{
		{IQN: "iqn.x:a", Portal: "10.0.0.1:3260", SID: 1, State: "LOGGED_IN", Disks: map[int]string{1: "sdb"}},
		{IQN: "iqn.x:b", Portal: "[::1]:3260", SID: 2, State: "LOGGED_IN", Disks: map[int]string{1: "sdc"}},
	}, ss)
	require.Equal(t, "/dev/sdc", findDisk(ss, connector.PlanLeg{IQN: "iqn.x:b", Portal: "[::1]:3260", LUN: 1}))
	require.Empty(t, findDisk(ss, connector.PlanLeg{IQN: "iqn.x:b", Portal: "[::1]:3260", LUN: 0}))

	tests := []struct {
		line    string
		want    RaidStatus
		inSync  bool
		wantErr bool
	}{
		{"0 65536 raid raid1 2 AA 65536/65536 idle 0 0 -", RaidStatus{"AA", 65536, 65536, "idle"}, true, false},
		{"0 65536 raid raid1 2 Aa 1024/65536 recover 0 0 -", RaidStatus{"Aa", 1024, 65536, "recover"}, false, false},
		{"0 65536 raid raid1 2 AD 65536/65536 idle 0 0 -", RaidStatus{"AD", 65536, 65536, "idle"}, false, false},
		{"0 65536 raid raid1 3 AD 65536/65536 idle 0 0 -", RaidStatus{}, false, true},
		{"0 65536 linear", RaidStatus{}, false, true},
	}
	for _, tt := range tests {
		got, err := ParseRaidStatus(tt.line)
		require.Equal(t, tt.wantErr, err != nil, tt.line)
		require.Equal(t, tt.want, got)
		require.Equal(t, tt.inSync, got.InSync(), tt.line)
	}
	require.Equal(t, []string{"ok", "resyncing", "failed"}, []string{LegState('A'), LegState('a'), LegState('D')})
}
