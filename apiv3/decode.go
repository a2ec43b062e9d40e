package apiv3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds request bodies; larger ones get 413.
const MaxBodyBytes = 1 << 20

// dbMaxInt is Cinder's constants.DB_MAX_INT, the largest size it accepts.
const dbMaxInt = 0x7FFFFFFF

// object is a decoded JSON object; numbers stay json.Number so that 1.5 and 1e40 can be refused.
type object map[string]any

var supportedContentTypes = []string{"application/json", "application/vnd.openstack.volume+json"}

// decodeBody reads a JSON object body the way Cinder's wsgi layer does: an empty body, or a body
// without Content-Type, counts as {}; a Content-Type other than JSON is 415; unparsable JSON is
// 400 "Malformed request body"; more than MaxBodyBytes is 413.
func decodeBody(r *http.Request) (object, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("Malformed request body")
	}
	if len(raw) > MaxBodyBytes {
		return nil, &fault{http.StatusRequestEntityTooLarge, "Request is too large."}
	}
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !contains(supportedContentTypes, strings.ToLower(mt)) {
			return nil, &fault{http.StatusUnsupportedMediaType, "Unsupported Content-Type"}
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 || ct == "" {
		return object{}, nil
	}
	return parseObject(raw)
}

// parseObject decodes exactly one JSON object.
func parseObject(raw []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("Malformed request body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("Malformed request body")
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("Malformed request body")
	}
	return object(o), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// repr renders a JSON value roughly as Cinder's messages (Python) show it.
func repr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		if len(x) > 300 {
			return x[:300] + "..."
		}
		return x
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func invalidField(field string, v any, reason string) error {
	return badRequest("Invalid input for field/attribute %s. Value: %s. %s", field, repr(v), reason)
}

// body returns the required top-level object o[key] and refuses any other top-level key except
// the ones in extra.
func body(o object, key string, extra ...string) (object, error) {
	for k := range o {
		if k != key && !contains(extra, k) {
			return nil, badRequest("Invalid input for field/attribute %s. Additional properties are not allowed ('%s' was unexpected)", key, k)
		}
	}
	v, ok := o[key]
	if !ok {
		return nil, badRequest("Missing required element '%s' in request body.", key)
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return nil, invalidField(key, v, fmt.Sprintf("%s is not of type 'object'", repr(v)))
	}
	return object(sub), nil
}

// onlyKeys refuses keys of o not in allowed.
func onlyKeys(o object, path string, allowed ...string) error {
	var bad []string
	for k := range o {
		if !contains(allowed, k) {
			bad = append(bad, "'"+k+"'")
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	verb := "was"
	if len(bad) > 1 {
		verb = "were"
	}
	return badRequest("Invalid input for field/attribute %s. Additional properties are not allowed (%s %s unexpected)", path, strings.Join(bad, ", "), verb)
}

// optString returns o[key] as a string (null -> ""), trimmed when trim is set, at most maxLen
// characters. present is false when the key is absent.
func optString(o object, key string, maxLen int, trim bool) (s string, present bool, err error) {
	v, ok := o[key]
	if !ok {
		return "", false, nil
	}
	switch x := v.(type) {
	case nil:
		return "", true, nil
	case string:
		if trim {
			x = strings.TrimSpace(x)
		}
		if !utf8.ValidString(x) {
			return "", true, invalidField(key, v, "Invalid string.")
		}
		if n := utf8.RuneCountInString(x); maxLen > 0 && n > maxLen {
			return "", true, invalidField(key, v, fmt.Sprintf("'%s' is too long", repr(x)))
		}
		return x, true, nil
	}
	return "", true, invalidField(key, v, fmt.Sprintf("%s is not of type 'string'", repr(v)))
}

// parseSize accepts what Cinder's volume_size accepts: an integer or a string of digits,
// 1..2^31-1.
func parseSize(field string, v any) (int, error) {
	var n *big.Int
	switch x := v.(type) {
	case json.Number:
		var ok bool
		n, ok = new(big.Int).SetString(x.String(), 10)
		if !ok {
			return 0, invalidField(field, v, fmt.Sprintf("%s is not of type 'integer', 'string'", repr(v)))
		}
	case string:
		if !digitsRE.MatchString(x) {
			return 0, invalidField(field, v, fmt.Sprintf("'%s' does not match '^[0-9]+$'", repr(x)))
		}
		n, _ = new(big.Int).SetString(x, 10)
	default:
		return 0, invalidField(field, v, fmt.Sprintf("%s is not of type 'integer', 'string'", repr(v)))
	}
	if n.Cmp(big.NewInt(1)) < 0 {
		return 0, invalidField(field, v, fmt.Sprintf("%s is less than the minimum of 1", repr(v)))
	}
	if n.Cmp(big.NewInt(dbMaxInt)) > 0 {
		return 0, invalidField(field, v, fmt.Sprintf("%s is greater than the maximum of %d", repr(v), dbMaxInt))
	}
	return int(n.Int64()), nil
}

var digitsRE = regexp.MustCompile(`^[0-9]+$`)

// parseInt accepts an integer (or a string of one) between lo and hi.
func parseInt(field string, v any, lo, hi int64) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, invalidField(field, v, fmt.Sprintf("%s is not of type 'integer'", repr(v)))
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return 0, invalidField(field, v, fmt.Sprintf("%s is not of type 'integer'", repr(v)))
	}
	if n.Cmp(big.NewInt(lo)) < 0 {
		return 0, invalidField(field, v, fmt.Sprintf("%s is less than the minimum of %d", repr(v), lo))
	}
	if n.Cmp(big.NewInt(hi)) > 0 {
		return 0, invalidField(field, v, fmt.Sprintf("%s is greater than the maximum of %d", repr(v), hi))
	}
	return n.Int64(), nil
}

var trueStrings = []string{"true", "1", "on", "yes", "y", "t"}
var falseStrings = []string{"false", "0", "off", "no", "n", "f"}

// parseBool accepts Cinder's parameter_types.boolean: true/false or their usual string forms.
func parseBool(field string, v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		l := strings.ToLower(x)
		if contains(trueStrings, l) {
			return true, nil
		}
		if contains(falseStrings, l) {
			return false, nil
		}
	}
	return false, invalidField(field, v, fmt.Sprintf("%s is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f']", repr(v)))
}

var metaKeyRE = regexp.MustCompile(`^[a-zA-Z0-9-_:. /]{1,255}$`)

// parseMetadata accepts Cinder's metadata: an object of string values (at most 255 chars) whose
// keys match ^[a-zA-Z0-9-_:. /]{1,255}$. null gives nil when nullable.
func parseMetadata(field string, v any, nullable bool) (map[string]string, error) {
	if v == nil && nullable {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidField(field, v, fmt.Sprintf("%s is not of type 'object'", repr(v)))
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if !metaKeyRE.MatchString(k) {
			return nil, invalidField(field, v, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
		}
		s, ok := val.(string)
		if !ok {
			return nil, invalidField(field+"/"+k, val, fmt.Sprintf("%s is not of type 'string'", repr(val)))
		}
		if utf8.RuneCountInString(s) > 255 {
			return nil, invalidField(field+"/"+k, val, fmt.Sprintf("'%s' is too long", repr(s)))
		}
		out[k] = s
	}
	return out, nil
}

// boolParam parses a query flag like oslo's bool_from_string: unknown strings are false.
func boolParam(s string) bool { return contains(trueStrings, strings.ToLower(strings.TrimSpace(s))) }

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }

// optUUID reads an optional uuid string field (null or absent -> "").
func optUUID(o object, key string) (string, error) {
	v, ok := o[key]
	if !ok || v == nil {
		return "", nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", invalidField(key, v, fmt.Sprintf("%s is not of type 'string'", repr(v)))
	}
	if !isUUID(s) {
		return "", invalidField(key, v, fmt.Sprintf("'%s' is not a 'uuid'", repr(s)))
	}
	return s, nil
}
