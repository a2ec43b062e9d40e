package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestMatchSpec(t *testing.T) {
	for _, tc := range []struct {
		value, req string
		want       bool
	}{
		{"iSCSI", "iSCSI", true},
		{"iSCSI", "FC", false},
		{"True", "<is> True", true},
		{"True", "<is> true", true},
		{"False", "<is> True", false},
		{"True", "<is> maybe", false},
		{"True", "<is>", false},
		{"iSCSI", "<in> SCS", true},
		{"iSCSI", "<in> FC", false},
		{"dlvm-2", "<or> dlvm-1 <or> dlvm-2", true},
		{"dlvm-3", "<or> dlvm-1 <or> dlvm-2", false},
		{"dlvm-1", "<or> dlvm-1", true},
		{"100.00", "= 50", true},
		{"10.00", "= 50", false},
		{"10", "== 10.0", true},
		{"10", "!= 10", false},
		{"10", ">= 10", true},
		{"10", "<= 9", false},
		{"abc", ">= 9", false},
		{"abc", "s< abd", true},
		{"abc", "s>= abd", false},
		{"abc", "s== abc", true},
		{"abc", "s!= abc", false},
		{"a b", "a b", true}, // not an operator: the whole text must be equal
	} {
		require.Equal(t, tc.want, matchSpec(tc.value, tc.req), "%q vs %q", tc.value, tc.req)
	}
}

func TestMatchSpecs(t *testing.T) {
	st := state([]*model.DVG{vg("gold", backend("dlvm-1"))}, []*model.DPV{dpv("a", "gold", 100)}, nil)
	caps := CapabilitiesOf(st.DVGs[0], st)
	require.Equal(t, "100.00", caps["total_capacity_gb"])
	for _, tc := range []struct {
		name  string
		specs map[string]string
		want  string
	}{
		{"none", nil, ""},
		{"dlvm and qos scopes are not capabilities", map[string]string{"dlvm:mirrors": "2", "qos:x": "y"}, ""},
		{"bare backend name", map[string]string{"volume_backend_name": "dlvm-1"}, ""},
		{"scoped backend name", map[string]string{"capabilities:volume_backend_name": "dlvm-1"}, ""},
		{"wrong backend", map[string]string{"capabilities:volume_backend_name": "dlvm-2"}, "capabilities:volume_backend_name"},
		{"vendor and protocol", map[string]string{"vendor_name": "dlvm", "storage_protocol": "iSCSI"}, ""},
		{"first failing key in order", map[string]string{"vendor_name": "x", "storage_protocol": "y"}, "storage_protocol"},
		{"unknown capability fails", map[string]string{"key1": "value1"}, "key1"},
		{"multiattach", map[string]string{"multiattach": "<is> True"}, ""},
		{"thin", map[string]string{"capabilities:thin_provisioning_support": "<is> True", "thick_provisioning_support": "<is> True"}, "thick_provisioning_support"},
		{"capacity", map[string]string{"free_capacity_gb": ">= 50"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, MatchSpecs(tc.specs, caps))
		})
	}
}
