package apiv3

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Version is a Cinder API microversion 3.Minor.
type Version struct{ Major, Minor int }

// Supported range, as Cinder 21 (Zed).
var (
	MinVersion = Version{3, 0}
	MaxVersion = Version{3, 70}
)

// Named microversions this package gates on (Cinder's cinder/api/microversions.py).
var (
	mvVolumeSummary       = Version{3, 12}
	mvGroupVolume         = Version{3, 13}
	mvGroupSnapshots      = Version{3, 14}
	mvProviderID          = Version{3, 21}
	mvSnapListMetadata    = Version{3, 22}
	mvVolumeDeleteForce   = Version{3, 23}
	mvLikeFilter          = Version{3, 34}
	mvSummaryMetadata     = Version{3, 36}
	mvSnapshotUserID      = Version{3, 41}
	mvCountInfo           = Version{3, 45}
	mvSharedTargets       = Version{3, 48}
	mvVolumeSchemaChanges = Version{3, 53}
	mvClusterName         = Version{3, 61}
	mvDefaultType         = Version{3, 62}
	mvTypeIDInDetail      = Version{3, 63}
	mvUseQuota            = Version{3, 65}
	mvSnapshotInUse       = Version{3, 66}
	mvProjectIDOptional   = Version{3, 67}
)

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v >= o.
func (v Version) AtLeast(o Version) bool {
	return v.Major > o.Major || (v.Major == o.Major && v.Minor >= o.Minor)
}

const (
	hdrAPIVersion    = "OpenStack-API-Version"
	hdrLegacyVersion = "X-OpenStack-Volume-API-Version"
	volumeService    = "volume"
)

var versionRE = regexp.MustCompile(`^([1-9]\d*)\.([1-9]\d*|0)$`)

// versionError is a microversion header problem; status is 400 (malformed) or 406 (out of range).
type versionError struct {
	status int
	msg    string
}

func (e *versionError) Error() string { return e.msg }

// ParseVersionString parses "3.x" or "latest" and checks the supported range.
func ParseVersionString(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "latest") {
		return MaxVersion, nil
	}
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, &versionError{http.StatusBadRequest, fmt.Sprintf(
			"API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", s)}
	}
	maj, err1 := strconv.Atoi(m[1])
	mnr, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil || len(m[1]) > 6 || len(m[2]) > 6 {
		return Version{}, &versionError{http.StatusBadRequest, fmt.Sprintf(
			"API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", s)}
	}
	v := Version{maj, mnr}
	if !v.AtLeast(MinVersion) || !MaxVersion.AtLeast(v) {
		return Version{}, &versionError{http.StatusNotAcceptable, fmt.Sprintf(
			"Version %s is not supported by the API. Minimum is %s and maximum is %s.", v, MinVersion, MaxVersion)}
	}
	return v, nil
}

// RequestVersion returns the microversion a request asks for: the "volume" entry of
// OpenStack-API-Version (a comma-separated list of "service version"), else
// X-OpenStack-Volume-API-Version, else 3.0. A header naming only other services is ignored,
// like an absent one.
func RequestVersion(h http.Header) (Version, error) {
	for _, line := range h.Values(hdrAPIVersion) {
		for _, item := range strings.Split(line, ",") {
			f := strings.Fields(item)
			if len(f) == 0 || !strings.EqualFold(f[0], volumeService) {
				continue
			}
			if len(f) != 2 {
				return Version{}, &versionError{http.StatusBadRequest, fmt.Sprintf(
					"API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.",
					strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(item), f[0])))}
			}
			return ParseVersionString(f[1])
		}
	}
	if s := h.Get(hdrLegacyVersion); s != "" {
		return ParseVersionString(s)
	}
	return MinVersion, nil
}
