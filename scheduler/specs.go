package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

// Capabilities are what a dvg offers to extra specs, spelled as Cinder drivers report them in
// get_pools (values as text: booleans "True"/"False", capacities in GiB).
type Capabilities map[string]string

// CapabilitiesOf returns the capabilities of dvg g in st: the static ones of every dlvm pool and
// capacity summed over g's usable dpvs.
func CapabilitiesOf(g *model.DVG, st State) Capabilities {
	var total, free int64
	for _, p := range st.DPVs {
		if p != nil && p.DVGID == g.ID && st.Usable(p) {
			total += p.TotalBytes
			free += p.FreeBytes
		}
	}
	ratio := g.OverSubscription
	if ratio <= 0 {
		ratio = model.DefaultOverSubscription
	}
	gb := func(b int64) string { return strconv.FormatFloat(float64(b)/float64(model.GiB), 'f', 2, 64) }
	return Capabilities{
		"volume_backend_name":         g.BackendName,
		"pool_name":                   g.Name,
		"vendor_name":                 model.VendorName,
		"storage_protocol":            model.StorageProtocol,
		"driver_version":              model.DriverVersion,
		"thin_provisioning_support":   "True",
		"thick_provisioning_support":  "False",
		"multiattach":                 "True",
		"total_capacity_gb":           gb(total),
		"free_capacity_gb":            gb(free),
		"reserved_percentage":         strconv.Itoa(g.ReservedPercentage),
		"max_over_subscription_ratio": strconv.FormatFloat(ratio, 'f', -1, 64),
	}
}

// MatchSpecs checks extra specs against caps the way Cinder's CapabilitiesFilter does. A key
// with a scope other than "capabilities" (dlvm:mirrors, qos:..., a vendor's own) is not the
// scheduler's business and is skipped; "capabilities:x" and a bare "x" must match capability x,
// and a missing capability fails. It returns "" when every spec matches, otherwise the first
// failing key (in sorted order, so the answer is deterministic).
func MatchSpecs(specs map[string]string, caps Capabilities) string {
	for _, key := range sortedKeys(specs) {
		name := key
		if scope, rest, ok := strings.Cut(key, ":"); ok {
			if scope != "capabilities" {
				continue
			}
			name = rest
		}
		v, ok := caps[name]
		if !ok || !matchSpec(v, specs[key]) {
			return key
		}
	}
	return ""
}

// matchSpec is Cinder's extra_specs_ops.match for a present capability value: a request whose
// first word is not an operator must equal the value; "<or> a <or> b" is any of the words;
// "<in> x" is a substring test; "<is> True" compares booleans; =, ==, !=, >=, <= compare numbers
// (= means at least); s==, s!=, s<, s<=, s>, s>= compare text. An operator without an operand,
// or a number that does not parse, does not match.
func matchSpec(value, req string) bool {
	words := strings.Fields(req)
	if len(words) == 0 {
		return value == req
	}
	op := words[0]
	if op == "<or>" {
		for i := 1; i < len(words); i += 2 {
			if words[i] == value {
				return true
			}
		}
		return false
	}
	cmp, isOp := specOps[op]
	if !isOp {
		return value == req
	}
	if len(words) < 2 {
		return false
	}
	return cmp(value, words[1])
}

var specOps = map[string]func(v, r string) bool{
	"=":    numOp(func(v, r float64) bool { return v >= r }),
	"==":   numOp(func(v, r float64) bool { return v == r }),
	"!=":   numOp(func(v, r float64) bool { return v != r }),
	">=":   numOp(func(v, r float64) bool { return v >= r }),
	"<=":   numOp(func(v, r float64) bool { return v <= r }),
	"<in>": strings.Contains,
	"<is>": func(v, r string) bool {
		vb, vok := parseBool(v)
		rb, rok := parseBool(r)
		return vok && rok && vb == rb
	},
	"s==": func(v, r string) bool { return v == r },
	"s!=": func(v, r string) bool { return v != r },
	"s<":  func(v, r string) bool { return v < r },
	"s<=": func(v, r string) bool { return v <= r },
	"s>":  func(v, r string) bool { return v > r },
	"s>=": func(v, r string) bool { return v >= r },
}

func numOp(f func(v, r float64) bool) func(v, r string) bool {
	return func(v, r string) bool {
		a, err1 := strconv.ParseFloat(v, 64)
		b, err2 := strconv.ParseFloat(r, 64)
		return err1 == nil && err2 == nil && f(a, b)
	}
}

// parseBool reads a boolean as oslo's bool_from_string does (strict: anything else is no bool).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// specText renders a failing spec for the user-safe reason: "vendor_name=acme".
func specText(key string, specs map[string]string) string {
	return fmt.Sprintf("%s=%s", key, specs[key])
}
