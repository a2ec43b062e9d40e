package iscsi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTextRoundTrip(t *testing.T) {
	pairs := []kv{{"InitiatorName", "iqn.x:y"}, {"AuthMethod", "CHAP,None"}, {"Empty", ""}}
	got, err := parseText(append(encodeText(pairs), 0, 0))
	require.NoError(t, err)
	require.Equal(t, pairs, got)
	_, err = parseText([]byte("NoEquals\x00"))
	require.Error(t, err)
}

func TestNegotiation(t *testing.T) {
	tests := []struct {
		name    string
		answers []kv
		want    func(p *params)
		wantErr bool
	}{
		{name: "no answers keeps RFC defaults", want: func(p *params) {}},
		{
			name: "tgtd-like answers",
			answers: []kv{{"HeaderDigest", "None"}, {"InitialR2T", "Yes"}, {"ImmediateData", "Yes"},
				{"MaxRecvDataSegmentLength", "8192"}, {"MaxBurstLength", "262144"}, {"FirstBurstLength", "65536"},
				{"DefaultTime2Wait", "2"}, {"ErrorRecoveryLevel", "0"}},
			want: func(p *params) { p.time2Wait = 2 },
		},
		{
			name:    "minimum of offers, target values above ours are capped",
			answers: []kv{{"MaxBurstLength", "16776192"}, {"FirstBurstLength", "4096"}, {"MaxRecvDataSegmentLength", "1048576"}},
			want: func(p *params) {
				p.maxBurst, p.firstBurst, p.maxSendSegment = offerMaxBurst, 4096, 1048576
			},
		},
		{
			name:    "booleans: InitialR2T OR, ImmediateData AND",
			answers: []kv{{"InitialR2T", "No"}, {"ImmediateData", "No"}},
			want:    func(p *params) { p.initialR2T, p.immediateData = false, false },
		},
		{
			name:    "Reject and NotUnderstood leave defaults",
			answers: []kv{{"MaxBurstLength", "Reject"}, {"InitialR2T", "NotUnderstood"}},
			want:    func(p *params) {},
		},
		{name: "digest forced", answers: []kv{{"HeaderDigest", "CRC32C"}}, wantErr: true},
		{name: "garbage number", answers: []kv{{"MaxBurstLength", "lots"}}, wantErr: true},
		{name: "too small", answers: []kv{{"MaxRecvDataSegmentLength", "12"}}, wantErr: true},
		{name: "bad boolean", answers: []kv{{"ImmediateData", "Maybe"}}, wantErr: true},
		{name: "ERL above our offer negotiates to the minimum", answers: []kv{{"ErrorRecoveryLevel", "2"}}, want: func(p *params) {}},
		{name: "out-of-order data unsupported", answers: []kv{{"DataPDUInOrder", "No"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := defaultParams()
			var err error
			for _, a := range tc.answers {
				if err = p.apply(a.k, a.v); err != nil {
					break
				}
			}
			if err == nil {
				err = p.check()
			}
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			want := defaultParams()
			tc.want(&want)
			require.Equal(t, want, p)
		})
	}
}

func TestAnswerFor(t *testing.T) {
	offered := map[string]bool{"MaxBurstLength": true}
	_, ok := answerFor("MaxBurstLength", "4096", offered)
	require.False(t, ok, "an answer to our own offer needs no reply")
	_, ok = answerFor("TargetAlias", "x", offered)
	require.False(t, ok, "declarative")
	r, ok := answerFor("X-com.example.Thing", "1", offered)
	require.True(t, ok)
	require.Equal(t, kv{"X-com.example.Thing", "NotUnderstood"}, r)
	r, ok = answerFor("IFMarker", "Yes", offered)
	require.True(t, ok)
	require.Equal(t, kv{"IFMarker", "No"}, r)
}

func TestCHAPResponse(t *testing.T) {
	// MD5(0x01 || "secret" || 0x0a0b0c), computed independently with Python's hashlib.
	r, err := chapResponse("1", "0x0a0b0c", "secret")
	require.NoError(t, err)
	require.Equal(t, "0x"+md5hex, r)
	_, err = chapResponse("300", "0x00", "s")
	require.Error(t, err)
	_, err = chapResponse("1", "zz", "s")
	require.Error(t, err)
	b, err := decodeCHAPBinary("0bCgsM")
	require.NoError(t, err)
	require.Equal(t, []byte{10, 11, 12}, b)
}

const md5hex = "3bc0df85069769453bc22cc94e967218"
