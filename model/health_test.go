package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeriveHealth(t *testing.T) {
	leg := func(g int, st string) LegReport { return LegReport{Group: g, State: st} }
	tests := []struct {
		name string
		legs []LegReport
		want string
	}{
		{"none", nil, HealthUnknown},
		{"unreported", []LegReport{leg(0, ""), leg(0, "")}, HealthUnknown},
		{"healthy", []LegReport{leg(0, LegStateOK), leg(0, LegStateOK), leg(1, LegStateOK), leg(1, LegStateOK)}, HealthHealthy},
		{"resyncing", []LegReport{leg(0, LegStateOK), leg(0, LegStateResyncing)}, HealthResyncing},
		{"degraded", []LegReport{leg(0, LegStateOK), leg(0, LegStateFailed), leg(1, LegStateOK), leg(1, LegStateResyncing)}, HealthDegraded},
		{"failed group", []LegReport{leg(0, LegStateOK), leg(0, LegStateOK), leg(1, LegStateFailed), leg(1, LegStateResyncing)}, HealthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, DeriveHealth(tt.legs)) })
	}
	require.True(t, WorseLegState(LegStateFailed, LegStateResyncing))
	require.True(t, WorseLegState(LegStateOK, ""))
	require.False(t, WorseLegState(LegStateOK, LegStateResyncing))
}
