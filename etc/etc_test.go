package etc

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// minimal is the smallest valid production file.
const minimal = `
[database]
connection = mysql+pymysql://dlvm:secret@controller/dlvm

[keystone_authtoken]
auth_url = http://controller:5000/v3
username = dlvm
password = secret
project_name = service
`

func mustParse(t *testing.T, data string) *Config {
	t.Helper()
	c, err := Parse([]byte(data))
	require.NoError(t, err)
	return c
}

func TestDefault(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)

	c := Default("/srv/dlvm")
	require.NoError(t, c.Validate())
	require.Empty(t, c.Warnings)

	d := c.Default
	require.Equal(t, host, d.Host)
	require.Equal(t, "127.0.0.1", d.MyIP)
	require.Equal(t, "/srv/dlvm", d.StatePath)
	require.Equal(t, "inproc://", d.TransportURL)
	require.Equal(t, AuthBuiltin, d.AuthStrategy)
	require.Equal(t, "127.0.0.1", d.Listen)
	require.Equal(t, 8776, d.ListenPort)
	require.Equal(t, []string{"dlvm-1", "dlvm-2"}, d.EnabledBackends)
	require.Len(t, c.Backends, 2)
	require.Equal(t, "dlvm-2", c.Backends[1].VolumeBackendName)
	require.Equal(t, "nova", d.DefaultAvailabilityZone)
	require.Equal(t, "sqlite:////srv/dlvm/dlvm.sqlite", c.Database.Connection)
	require.Equal(t, "sqlite", c.Database.Driver())
	require.Equal(t, "/srv/dlvm/identity/jws.pem", c.BuiltinIdentity.KeyFile)
	require.Equal(t, "/srv/dlvm/pool", c.DPV.PoolDir)
	require.Equal(t, "dlvm-1", c.DPV.DVG)
	require.Equal(t, host, c.DPV.Name)
	require.Equal(t, "http://127.0.0.1:8801", c.DPV.AdvertiseURL)
	require.Equal(t, AllInOneSection{DPVCount: 5, DPVBasePort: 8801, DPVSizeGB: 100, TargetBasePort: 13261}, c.AllInOne)
	require.Len(t, c.BuiltinIdentity.Users, 2)
	require.Equal(t, IdentityUser{Name: "admin", Password: "admin", Project: "admin",
		Roles: []string{"admin", "member", "reader"}}, c.BuiltinIdentity.Users[0])

	b, ok := c.Backend("dlvm-1")
	require.True(t, ok)
	require.Equal(t, BackendSection{
		Name: "dlvm-1", VolumeBackendName: "dlvm-1", DVGName: "dlvm-1", AvailabilityZone: "nova",
		MaxOverSubscriptionRatio: 20.0, ThinProvisioningSupport: true,
	}, *b)
	_, ok = c.Backend("dlvm-2")
	require.True(t, ok)
	_, ok = c.Backend("dlvm-3")
	require.False(t, ok)
	require.False(t, c.Nova.Configured())
}

func TestParseProductionDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	require.Empty(t, c.Warnings)
	d := c.Default
	require.Equal(t, DefaultStatePath, d.StatePath)
	require.Equal(t, AuthKeystone, d.AuthStrategy)
	require.Equal(t, "0.0.0.0", d.Listen)
	require.Empty(t, d.EnabledBackends)
	require.Empty(t, c.Backends)
	require.Equal(t, "__DEFAULT__", d.DefaultVolumeType)
	require.Equal(t, QuotaDefaults{Volumes: 10, Snapshots: 10, Gigabytes: 1000, Backups: 10,
		BackupGigabytes: 1000, Groups: 10, PerVolumeSizeLimit: -1}, d.Quotas)
	require.Equal(t, LayoutDefaults{Mirrors: 2, Stripes: 1, StripeChunkKiB: 512}, d.Layout)
	require.Equal(t, 10*time.Second, d.WorkflowSweepInterval)
	require.Equal(t, 60*time.Second, d.WorkflowStaleAfter)
	require.Equal(t, 30*24*time.Hour, d.MessageTTL)
	require.Equal(t, 5*time.Second, d.DPVHeartbeatInterval)
	require.Equal(t, 30*time.Second, d.DPVHeartbeatTimeout)
	require.Equal(t, "mysql", c.Database.Driver())
	require.Equal(t, 300*time.Second, c.KeystoneAuthtoken.TokenCacheTime)
	require.Equal(t, 10*time.Second, c.KeystoneAuthtoken.HTTPConnectTimeout)
	require.Equal(t, "Default", c.KeystoneAuthtoken.UserDomainName)
	require.Equal(t, "/var/lib/dlvm/identity/jws.pem", c.BuiltinIdentity.KeyFile)
	require.Equal(t, 86400*time.Second, c.BuiltinIdentity.TokenExpiration)
	require.Empty(t, c.DPV.DVG)
	require.Equal(t, "/var/lib/dlvm/pool", c.DPV.PoolDir)
	require.Equal(t, TargetTgtadm, c.DPV.TargetHelper)
	require.Equal(t, "127.0.0.1", c.DPV.TargetIPAddress)
	require.Equal(t, "iqn.2010-10.org.openstack:", c.DPV.ISCSITargetPrefix)
	require.Equal(t, "public", c.Nova.EndpointType)
}

const full = `
[DEFAULT]
host = node1
my_ip = 10.0.0.5
state_path = /data/dlvm
transport_url = rabbit://dlvm:p%40ss@mq1:5672,dlvm:p%40ss@mq2/dlvm
control_exchange = dlvm-east
auth_strategy = keystone
osapi_volume_listen = ::
osapi_volume_listen_port = 18776
public_endpoint = https://volume.example.com:8776
enabled_backends = fast, slow
default_volume_type = replicated
storage_availability_zone = az1
default_availability_zone = az2
debug = yes
log_file = $state_path/log/dlvm.log
quota_volumes = 20
quota_snapshots = 30
quota_gigabytes = -1
quota_backups = 0
quota_backup_gigabytes = 500
quota_groups = 5
per_volume_size_limit = 2048
dlvm_default_mirrors = 3
dlvm_default_stripes = 4
dlvm_default_stripe_chunk_kib = 64
workflow_sweep_interval = 15
workflow_stale_after = 2m
message_ttl = 3600
dpv_heartbeat_interval = 3
dpv_heartbeat_timeout = 20
report_interval = 5
service_down_time = 45
leg_replace_after = 120
agent_token = s3cr#t;x

[database]
connection = mysql+pymysql://dlvm:secret@db.example.com:3306/dlvm?charset=utf8
max_pool_size = 20
max_overflow = 50

[keystone_authtoken]
www_authenticate_uri = https://keystone.example.com/v3
auth_url = https://keystone.example.com:5000/v3
auth_type = password
username = dlvm
password = secret
project_name = service
user_domain_name = Users
project_domain_name = Services
region_name = RegionTwo
token_cache_time = 600
http_connect_timeout = 5
jws_public_key_repository = /etc/keystone/jws-keys
service_token_roles_required = true

[builtin_identity]
listen = 0.0.0.0
port = 15000
public_url = http://10.0.0.5:15000
key_file = ${state_path}/keys/jws.pem
token_expiration = 3600
users = alice:pa:ss:proj:member
users = bob:$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW:ops:admin+member
    carol:c:proj:reader

[fast]
volume_backend_name = ssd
dvg_name = dvg-ssd
availability_zone = az3
max_over_subscription_ratio = 1.5
reserved_percentage = 10
thin_provisioning_support = false

[slow]

[dpv]
name = dpv-a
dvg = fast
listen = 0.0.0.0
port = 9801
location = rack-7
pool_type = lvm
volume_group = dlvm-vg
thin_pool = dlvm-pool
target_helper = lioadm
target_ip_address = 10.1.0.5
target_port = 3261
iscsi_target_prefix = iqn.2024-01.com.example:

[all_in_one]
dpv_count = 5
dpv_base_port = 9000
dpv_size_gb = 0
target_base_port = 20000

[agent]
ca_file = $state_path/pki/ca.pem
cert_file = /etc/dlvm/pki/node1.pem
key_file = /etc/dlvm/pki/node1.key
shared_secret_file = /etc/dlvm/agent.secret
replay_window = 30

[nova]
auth_url = https://keystone.example.com:5000/v3
username = nova
password = novapass
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionTwo
endpoint_type = internal
`

func TestParseFull(t *testing.T) {
	c := mustParse(t, full)
	want := &Config{
		Default: DefaultSection{
			Host: "node1", MyIP: "10.0.0.5", StatePath: "/data/dlvm",
			TransportURL: "rabbit://dlvm:p%40ss@mq1:5672,dlvm:p%40ss@mq2/dlvm", ControlExchange: "dlvm-east",
			AuthStrategy: AuthKeystone, Listen: "::", ListenPort: 18776,
			PublicEndpoint:  "https://volume.example.com:8776",
			EnabledBackends: []string{"fast", "slow"}, DefaultVolumeType: "replicated",
			StorageAvailabilityZone: "az1", DefaultAvailabilityZone: "az2",
			Debug: true, LogFile: "/data/dlvm/log/dlvm.log",
			Quotas: QuotaDefaults{Volumes: 20, Snapshots: 30, Gigabytes: -1, Backups: 0,
				BackupGigabytes: 500, Groups: 5, PerVolumeSizeLimit: 2048},
			Layout:                LayoutDefaults{Mirrors: 3, Stripes: 4, StripeChunkKiB: 64},
			WorkflowSweepInterval: 15 * time.Second, WorkflowStaleAfter: 2 * time.Minute, MessageTTL: 3600 * time.Second,
			DPVHeartbeatInterval: 3 * time.Second, DPVHeartbeatTimeout: 20 * time.Second,
			ReportInterval: 5 * time.Second, ServiceDownTime: 45 * time.Second,
			LegReplaceAfter: 2 * time.Minute, AgentToken: "s3cr#t;x",
		},
		Database: DatabaseSection{
			Connection:  "mysql+pymysql://dlvm:secret@db.example.com:3306/dlvm?charset=utf8",
			MaxPoolSize: 20,
		},
		KeystoneAuthtoken: KeystoneAuthtokenSection{
			WWWAuthenticateURI: "https://keystone.example.com/v3",
			AuthURL:            "https://keystone.example.com:5000/v3", AuthType: "password",
			Username: "dlvm", Password: "secret", ProjectName: "service",
			UserDomainName: "Users", ProjectDomainName: "Services", RegionName: "RegionTwo",
			TokenCacheTime: 600 * time.Second, HTTPConnectTimeout: 5 * time.Second,
			JWSPublicKeyRepository: "/etc/keystone/jws-keys", ServiceTokenRolesRequired: true,
		},
		BuiltinIdentity: BuiltinIdentitySection{
			Listen: "0.0.0.0", Port: 15000, PublicURL: "http://10.0.0.5:15000",
			KeyFile: "/data/dlvm/keys/jws.pem", TokenExpiration: time.Hour,
			Users: []IdentityUser{
				{Name: "alice", Password: "pa:ss", Project: "proj", Roles: []string{"member"}},
				{Name: "bob", Password: "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
					Project: "ops", Roles: []string{"admin", "member"}},
				{Name: "carol", Password: "c", Project: "proj", Roles: []string{"reader"}},
			},
		},
		Backends: []BackendSection{
			{Name: "fast", VolumeBackendName: "ssd", DVGName: "dvg-ssd", AvailabilityZone: "az3",
				MaxOverSubscriptionRatio: 1.5, ReservedPercentage: 10, ThinProvisioningSupport: false},
			{Name: "slow", VolumeBackendName: "slow", DVGName: "slow", AvailabilityZone: "az1",
				MaxOverSubscriptionRatio: 20, ThinProvisioningSupport: true},
		},
		DPV: DPVSection{
			Name: "dpv-a", DVG: "fast", Listen: "0.0.0.0", Port: 9801,
			AdvertiseURL: "http://10.0.0.5:9801", Location: "rack-7",
			PoolType: PoolLVM, VolumeGroup: "dlvm-vg", ThinPool: "dlvm-pool",
			TargetHelper: TargetLioadm, TargetIPAddress: "10.1.0.5", TargetPort: 3261,
			ISCSITargetPrefix: "iqn.2024-01.com.example:",
		},
		AllInOne: AllInOneSection{DPVCount: 5, DPVBasePort: 9000, DPVSizeGB: 0, TargetBasePort: 20000},
		Nova: NovaSection{
			AuthURL: "https://keystone.example.com:5000/v3", Username: "nova", Password: "novapass",
			ProjectName: "service", UserDomainName: "Default", ProjectDomainName: "Default",
			RegionName: "RegionTwo", EndpointType: "internal",
		},
		Backup: BackupSection{Driver: BackupDriverPosix, PosixPath: "/data/dlvm/backup", FileSize: 4 << 20, Container: "backups"},
		Agent: AgentSection{CAFile: "/data/dlvm/pki/ca.pem", CertFile: "/etc/dlvm/pki/node1.pem",
			KeyFile: "/etc/dlvm/pki/node1.key", SharedSecretFile: "/etc/dlvm/agent.secret", ReplayWindow: 30 * time.Second},
	}
	require.Equal(t, want, c)
	require.True(t, c.BuiltinIdentity.Users[1].PasswordIsHash())
	require.False(t, c.BuiltinIdentity.Users[0].PasswordIsHash())
	require.True(t, c.Nova.Configured())
	require.NoError(t, c.ValidateDPVAgent())

	tr, err := ParseTransportURL(c.Default.TransportURL)
	require.NoError(t, err)
	require.Equal(t, []TransportHost{
		{Username: "dlvm", Password: "p@ss", Host: "mq1", Port: 5672},
		{Username: "dlvm", Password: "p@ss", Host: "mq2", Port: 5672},
	}, tr.Hosts)
	require.Equal(t, "dlvm", tr.VirtualHost)
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string // appended to minimal; a repeated key's last value wins
		want string
	}{
		{"bad transport scheme", "[DEFAULT]\ntransport_url = kafka://broker:9092\n",
			`[DEFAULT] transport_url: unsupported scheme "kafka" (want inproc:// or rabbit://)`},
		{"bad transport port", "[DEFAULT]\ntransport_url = rabbit://u:p@mq1:5672,u:p@mq2:x/\n",
			`[DEFAULT] transport_url: host 2: invalid port "x"`},
		{"bad auth_strategy", "[DEFAULT]\nauth_strategy = oauth\n",
			`[DEFAULT] auth_strategy: unsupported value "oauth" (want keystone, builtin or noauth)`},
		{"keystone without auth_url", "[keystone_authtoken]\nauth_url =\n",
			`[keystone_authtoken] auth_url: required`},
		{"keystone without password", "[keystone_authtoken]\npassword =\n",
			`[keystone_authtoken] password: required`},
		{"enabled backend without section", "[DEFAULT]\nenabled_backends = dlvm-1,dlvm-2\n[dlvm-1]\n",
			`[DEFAULT] enabled_backends: no [dlvm-2] section for enabled backend "dlvm-2"`},
		{"backend listed twice", "[DEFAULT]\nenabled_backends = a,a\n[a]\n",
			`[DEFAULT] enabled_backends: backend "a" listed twice`},
		{"bad duration", "[DEFAULT]\nworkflow_sweep_interval = ten\n",
			`[DEFAULT] workflow_sweep_interval: invalid duration "ten" (want integer seconds, e.g. 30)`},
		{"negative duration", "[keystone_authtoken]\ntoken_cache_time = -5\n",
			`[keystone_authtoken] token_cache_time: invalid duration "-5"`},
		{"bad bool", "[DEFAULT]\ndebug = maybe\n",
			`[DEFAULT] debug: invalid boolean "maybe" (want true or false)`},
		{"bad int", "[DEFAULT]\nquota_volumes = many\n",
			`[DEFAULT] quota_volumes: invalid integer "many"`},
		{"bad user entry", "[builtin_identity]\nusers = admin:admin:admin:admin\nusers = bob:secret\n",
			`[builtin_identity] users: entry 2: 2 fields (want name:password:project:role1+role2)`},
		{"user without roles", "[builtin_identity]\nusers = bob:pw:proj:\n",
			`[builtin_identity] users: entry 1: user "bob": empty role`},
		{"duplicate user", "[builtin_identity]\nusers = bob:pw:p:r\n  bob:pw2:p:r\n",
			`[builtin_identity] users: entry 2: user "bob" defined twice`},
		{"lvm pool without volume_group", "[dpv]\npool_type = lvm\nthin_pool = tp\n",
			`[dpv] volume_group: required when pool_type = lvm`},
		{"half of mutual TLS", "[agent]\nca_file = /ca.pem\ncert_file = /c.pem\n",
			`[agent] ca_file: ca_file, cert_file and key_file go together (mutual TLS)`},
		{"bad pool type", "[dpv]\npool_type = zfs\n",
			`[dpv] pool_type: unsupported value "zfs" (want file or lvm)`},
		{"bad target helper", "[dpv]\ntarget_helper = iet\n",
			`[dpv] target_helper: unsupported value "iet" (want tgtadm or lioadm)`},
		{"bad connection scheme", "[database]\nconnection = postgres://u:p@h/db\n",
			`[database] connection: unsupported scheme "postgres" (want mysql+pymysql://, mysql:// or sqlite:///)`},
		{"connection missing", "[database]\nconnection =\n",
			`[database] connection: required`},
		{"bad my_ip", "[DEFAULT]\nmy_ip = node1\n",
			`[DEFAULT] my_ip: invalid IP address "node1"`},
		{"bad port", "[DEFAULT]\nosapi_volume_listen_port = 70000\n",
			`[DEFAULT] osapi_volume_listen_port: invalid port 70000 (want 1..65535)`},
		{"relative state_path", "[DEFAULT]\nstate_path = data\n",
			`[DEFAULT] state_path: must be an absolute path, got "data"`},
		{"stripe chunk not power of two", "[DEFAULT]\ndlvm_default_stripe_chunk_kib = 100\n",
			`[DEFAULT] dlvm_default_stripe_chunk_kib: must be a power of two >= 4, got 100`},
		{"service down time too short", "[DEFAULT]\nreport_interval = 60\n",
			`[DEFAULT] service_down_time: must be longer than report_interval (60s <= 60s)`},
		{"leg replace too soon", "[DEFAULT]\nleg_replace_after = 10\n",
			`[DEFAULT] leg_replace_after: must be 0 (never) or at least dpv_heartbeat_timeout (10s < 30s)`},
		{"heartbeat timeout too short", "[DEFAULT]\ndpv_heartbeat_timeout = 5\n",
			`[DEFAULT] dpv_heartbeat_timeout: must be longer than dpv_heartbeat_interval (5s <= 5s)`},
		{"bad oversubscription", "[DEFAULT]\nenabled_backends = b\n[b]\nmax_over_subscription_ratio = 0.5\n",
			`[b] max_over_subscription_ratio: must be >= 1.0, got 0.5`},
		{"bad public endpoint", "[DEFAULT]\npublic_endpoint = volume.example.com\n",
			`[DEFAULT] public_endpoint: invalid URL "volume.example.com"`},
		{"nova without password", "[nova]\nauth_url = http://k:5000/v3\nusername = n\nproject_name = s\n",
			`[nova] password: required`},
		{"bad endpoint type", "[nova]\nendpoint_type = private\n",
			`[nova] endpoint_type: unsupported value "private" (want public, internal or admin)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal + "\n" + tt.conf))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			var oe *OptionError
			require.True(t, errors.As(err, &oe), "errors are *OptionError")
			require.NotContains(t, err.Error(), "secret", "errors never echo secrets")
		})
	}
}

func TestValidationReportsEveryError(t *testing.T) {
	_, err := Parse([]byte("[DEFAULT]\ndebug = maybe\nauth_strategy = noauth\n"))
	require.Error(t, err)
	require.Contains(t, err.Error(), `[DEFAULT] debug: invalid boolean "maybe"`)
	require.Contains(t, err.Error(), `[database] connection: required`)
	require.NotContains(t, err.Error(), "keystone_authtoken", "keystone options are optional under noauth")
}

func TestValidateDPVAgent(t *testing.T) {
	c := mustParse(t, minimal)
	require.ErrorContains(t, c.ValidateDPVAgent(), `[dpv] dvg: required by the dpv agent`)

	c = mustParse(t, minimal+"[dpv]\ndvg = d\nlisten = 10.0.0.1\n")
	require.ErrorContains(t, c.ValidateDPVAgent(), `[DEFAULT] agent_token: required when [dpv] listen is not a loopback address`)

	c = mustParse(t, minimal+"[DEFAULT]\nagent_token = t\n[dpv]\ndvg = d\nlisten = 10.0.0.1\n")
	require.NoError(t, c.ValidateDPVAgent())
	c = mustParse(t, minimal+"[agent]\nshared_secret_file = /etc/dlvm/agent.secret\n[dpv]\ndvg = d\nlisten = 10.0.0.1\n")
	require.NoError(t, c.ValidateDPVAgent(), "a secret file is enough")
	c = mustParse(t, minimal+"[agent]\nca_file = /ca\ncert_file = /c\nkey_file = /k\n[dpv]\ndvg = d\nlisten = 10.0.0.1\n")
	require.NoError(t, c.ValidateDPVAgent(), "mutual TLS is enough")
}

func TestWarnings(t *testing.T) {
	c := mustParse(t, minimal+`
[DEFAULT]
osapi_volume_lisen = 1.2.3.4
enabled_backends = dlvm-1
[database]
max_overflow = 50
[keystone_authtoken]
memcached_servers = 127.0.0.1:11211
[dlvm-1]
volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
[dlvm-2]
dvg_name = x
[oslo_concurrency]
lock_path = /var/lock
`)
	require.Equal(t, []string{
		"[DEFAULT] osapi_volume_lisen: unknown option, ignored",
		"[dlvm-1] volume_driver: unknown option, ignored",
		"[dlvm-2]: unknown section (not a dlvm section nor in enabled_backends), ignored",
		"[oslo_concurrency]: unknown section (not a dlvm section nor in enabled_backends), ignored",
		"[keystone_authtoken] memcached_servers: accepted but unused: dlvm caches validated tokens in process",
	}, c.Warnings)
	require.Equal(t, "0.0.0.0", c.Default.Listen, "a misspelt key changes nothing")
}

func TestParseAllInOne(t *testing.T) {
	c, err := ParseAllInOne("/srv/dlvm", []byte(`
[DEFAULT]
state_path = /data
[dlvm-1]
max_over_subscription_ratio = 5
[all_in_one]
dpv_count = 1
`))
	require.NoError(t, err)
	require.Equal(t, AuthBuiltin, c.Default.AuthStrategy)
	require.Equal(t, "/data/identity/jws.pem", c.BuiltinIdentity.KeyFile, "derived from the file's state_path")
	require.Equal(t, "/data/pool", c.DPV.PoolDir)
	require.Equal(t, "sqlite:////srv/dlvm/dlvm.sqlite", c.Database.Connection)
	require.Equal(t, 1, c.AllInOne.DPVCount)
	b, ok := c.Backend("dlvm-1")
	require.True(t, ok)
	require.Equal(t, 5.0, b.MaxOverSubscriptionRatio)
	require.Equal(t, "dlvm-1", b.DVGName)

	// With no file content it is exactly Default.
	c, err = ParseAllInOne("/srv/dlvm", nil)
	require.NoError(t, err)
	c.Warnings = nil
	require.Equal(t, Default("/srv/dlvm"), c)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dlvm.conf")
	require.NoError(t, os.WriteFile(path, []byte(minimal), 0o600))
	c, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, "dlvm", c.KeystoneAuthtoken.Username)

	_, err = Load(filepath.Join(dir, "missing.conf"))
	require.ErrorIs(t, err, os.ErrNotExist)

	c, err = LoadAllInOne(dir, path)
	require.NoError(t, err)
	require.Equal(t, dir, c.Default.StatePath)
	require.Equal(t, "mysql", c.Database.Driver())
}

func TestStatePathExpansion(t *testing.T) {
	c := mustParse(t, `
[DEFAULT]
state_path = /srv/d
auth_strategy = noauth
[database]
connection = sqlite:///$state_path/dlvm.sqlite
[builtin_identity]
key_file = $state_path_not/$$state_path/${state_path}x
`)
	require.Equal(t, "sqlite:////srv/d/dlvm.sqlite", c.Database.Connection)
	require.Equal(t, "$state_path_not/$state_path//srv/dx", c.BuiltinIdentity.KeyFile)
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"45", 45 * time.Second},
		{" 45 ", 45 * time.Second},
		{"90s", 90 * time.Second},
		{"1m30s", 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := mustParse(t, minimal+"[keystone_authtoken]\ntoken_cache_time = "+tt.in+"\n")
			require.Equal(t, tt.want, c.KeystoneAuthtoken.TokenCacheTime)
		})
	}
}

func TestParseTransportURL(t *testing.T) {
	tests := []struct {
		in      string
		want    *Transport
		wantErr string
	}{
		{in: "inproc://", want: &Transport{Scheme: "inproc"}},
		{in: "rabbit://guest:guest@localhost:5672/", want: &Transport{Scheme: "rabbit",
			Hosts: []TransportHost{{Username: "guest", Password: "guest", Host: "localhost", Port: 5672}}}},
		{in: "rabbit://u:p/w@[fd00::1]:5673,h2/%2Fvh?ssl=1", want: &Transport{Scheme: "rabbit",
			Hosts: []TransportHost{
				{Username: "u", Password: "p/w", Host: "fd00::1", Port: 5673},
				{Host: "h2", Port: 5672},
			}, VirtualHost: "/vh", Query: map[string][]string{"ssl": {"1"}}}},
		{in: "localhost:5672", wantErr: "not a URL"},
		{in: "amqp://h", wantErr: `unsupported scheme "amqp"`},
		{in: "inproc://x", wantErr: "inproc:// takes no host or path"},
		{in: "rabbit://u:p@", wantErr: "host 1: empty host name"},
		{in: "rabbit://h1,,h3", wantErr: "host 2: empty host name"},
		{in: "rabbit://h:0", wantErr: `host 1: invalid port "0"`},
		{in: "rabbit://[::1", wantErr: "host 1: unterminated IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTransportURL(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCheckConnection(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{in: "mysql+pymysql://dlvm:pw@controller/dlvm"},
		{in: "mysql://dlvm:p@ss@[::1]:3306/dlvm?charset=utf8"},
		{in: "sqlite:///dlvm.sqlite"},
		{in: "sqlite:////var/lib/dlvm/dlvm.sqlite"},
		{in: "sqlite://", wantErr: "missing database path"},
		{in: "sqlite:///", wantErr: "missing database path"},
		{in: "mysql+pymysql://dlvm:pw@/dlvm", wantErr: "missing host"},
		{in: "mysql://dlvm:pw@controller", wantErr: "missing database name"},
		{in: "mysql://dlvm:pw@controller/?x=1", wantErr: "missing database name"},
		{in: "controller/dlvm", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := checkConnection(tt.in)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "pw", "never echoes the URL")
		})
	}
}

func TestParseIdentityUser(t *testing.T) {
	tests := []struct {
		in      string
		want    IdentityUser
		wantErr string
	}{
		{in: "admin:admin:admin:admin+member+reader",
			want: IdentityUser{Name: "admin", Password: "admin", Project: "admin", Roles: []string{"admin", "member", "reader"}}},
		{in: "u:a:b:c:p:r", want: IdentityUser{Name: "u", Password: "a:b:c", Project: "p", Roles: []string{"r"}}},
		{in: "u:pw:p", wantErr: "3 fields"},
		{in: ":pw:p:r", wantErr: "empty user name"},
		{in: "u::p:r", wantErr: `user "u": empty password`},
		{in: "u:pw::r", wantErr: `user "u": empty project`},
		{in: "u:pw:p:a++b", wantErr: `user "u": empty role`},
		{in: "u:$2b$12$short:p:r", wantErr: `user "u": malformed bcrypt hash`},
		{in: "a b:pw:p:r", wantErr: "name contains a space"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIdentityUser(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// sampleOption is "#key = value" in the sample; descriptions are "# text".
var sampleOption = regexp.MustCompile(`^#([a-z_][a-z0-9_]*) =(?: (.*))?$`)

// TestSampleComplete keeps etc/dlvm.conf.sample and the parser in step: every key the parser
// reads is in the sample under its section, every key in the sample is one the parser reads,
// and each option is introduced by a one-line description.
func TestSampleComplete(t *testing.T) {
	sampleKeys := map[string]map[string]bool{}
	section := ""
	lines := strings.Split(string(Sample()), "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			sampleKeys[section] = map[string]bool{}
			continue
		}
		m := sampleOption.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		require.NotEmpty(t, section, "line %d: option before any section", i+1)
		if !sampleKeys[section][m[1]] { // a multi-valued option may repeat
			prev := lines[i-1]
			require.True(t, strings.HasPrefix(prev, "# ") && strings.HasSuffix(prev, ")"),
				"line %d: [%s] %s has no description line \"# text (type value)\"", i+1, section, m[1])
		}
		sampleKeys[section][m[1]] = true
	}

	known := knownKeys(DefaultBackend)
	require.Equal(t, flatten(known), flatten(sampleKeys))
}

func flatten(m map[string]map[string]bool) []string {
	var out []string
	for s, keys := range m {
		for k := range keys {
			out = append(out, "["+s+"] "+k)
		}
	}
	sort.Strings(out)
	return out
}

// TestSampleDefaults checks the values the sample shows against the parser's defaults: the
// sample, uncommented, must parse and give the same configuration as the defaults.
func TestSampleDefaults(t *testing.T) {
	var b strings.Builder
	for _, line := range strings.Split(string(Sample()), "\n") {
		m := sampleOption.FindStringSubmatch(line)
		switch {
		case m == nil:
			b.WriteString(line)
		case strings.HasPrefix(m[2], "<") || m[2] == "" || m[1] == "max_overflow":
			continue // derived from another option, or no default
		default:
			b.WriteString(line[1:])
		}
		b.WriteString("\n")
	}
	uncommented := b.String() + "[DEFAULT]\nenabled_backends = dlvm-1\n" + minimal

	got := mustParse(t, uncommented)
	require.Empty(t, got.Warnings)
	want := mustParse(t, "[DEFAULT]\nenabled_backends = dlvm-1\n[dlvm-1]\n"+minimal)
	require.Equal(t, want, got)
}

func TestDPVsOf(t *testing.T) {
	for _, tc := range []struct{ count, n, k, first, got int }{
		{5, 2, 0, 0, 3}, {5, 2, 1, 3, 2}, {3, 1, 0, 0, 3}, {4, 2, 1, 2, 2}, {1, 2, 1, 1, 0}, {7, 3, 2, 5, 2},
	} {
		first, got := AllInOneSection{DPVCount: tc.count}.DPVsOf(tc.k, tc.n)
		require.Equal(t, [2]int{tc.first, tc.got}, [2]int{first, got}, "%d dpvs, backend %d of %d", tc.count, tc.k, tc.n)
	}
}

func TestOptionError(t *testing.T) {
	require.Equal(t, "[dpv] port: bad", (&OptionError{Section: "dpv", Key: "port", Reason: "bad"}).Error())
	require.Equal(t, "[b] whole", (&OptionError{Section: "b", Reason: "whole"}).Error())
}

// FuzzParse: no input panics, and whatever parses cleanly also validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(full))
	f.Add(Sample())
	f.Add([]byte("[DEFAULT]\nenabled_backends = a,,b\n[a]\n[builtin_identity]\nusers = x:y\n  :::\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			require.NoError(t, c.Validate())
		}
		_, _ = ParseTransportURL(string(data))
		_ = checkConnection(string(data))
	})
}
