package apiv3

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appendJSON must write exactly what encoding/json writes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"scalars", map[string]any{"s": "x", "t": true, "f": false, "i": 42, "n": -7, "i64": int64(1) << 60, "null": nil}},
		{"nested", map[string]any{"volumes": []any{
			map[string]any{"id": "a", "links": []any{map[string]any{"rel": "self", "href": "http://h/v3/p/volumes/a?x=1&y=<2>"}},
				"metadata": map[string]string{"k": "v", "a": "b\"c"}},
			map[string]any{"id": "b", "metadata": map[string]string{}, "attachments": []any{}},
		}}},
		{"nil containers", map[string]any{"m": map[string]any(nil), "ms": map[string]string(nil), "l": []any(nil)}},
		{"escapes", map[string]any{"ctl\x01": "\b\f\n\r\t\x00\x1f\x7f", "html": "<script>&</script>", "q": `"\`,
			"uni": "héllo \u2028\u2029 日本", "bad": "a\xffb\xc3", "emoji": "😀"}},
		{"fallback types", map[string]any{"float": 1.5, "time": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
			"strs": []string{"a", "b"}, "u": uint8(3), "raw": json.RawMessage(`{"b":1,"a":2}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.v)
			require.NoError(t, err)
			got, err := appendJSON(nil, tc.v)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
	_, err := appendJSON(nil, map[string]any{"bad": make(chan int)})
	require.Error(t, err, "an unencodable value is an error, as with encoding/json")
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\x00\x1f", "a\xffb", "\u2028", "é日😀", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(map[string]any{s: s})
		require.NoError(t, err)
		got, err := appendJSON(nil, map[string]any{s: s})
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}
