// Package etc owns dlvm's configuration: the cinder.conf-style INI file (oslo.config spelling of
// sections and keys) parsed into one typed, validated section per component, the embedded
// defaults the all-in-one mode runs on, and the sample file etc/dlvm.conf.sample.
//
// etc only parses and validates; it never reads flags or chooses a file. cmd/dlvm calls Load (or
// LoadAllInOne / Default for `dlvm all-in-one`) and hands each component its section. etc imports
// nothing of dlvm.
//
// Compared with oslo.config: unknown keys are warnings (Config.Warnings), not errors; durations
// are integer seconds (a Go duration such as "90s" is accepted too); booleans accept
// true/false/yes/no/on/off/1/0; "$state_path" (or "${state_path}", "$$" for a dollar) is expanded
// in path-valued options and in [database] connection only.
package etc

import (
	"strings"
	"time"
)

// Auth strategies ([DEFAULT] auth_strategy).
const (
	AuthKeystone = "keystone" // validate Keystone tokens ([keystone_authtoken])
	AuthBuiltin  = "builtin"  // serve and validate the built-in identity ([builtin_identity])
	AuthNoAuth   = "noauth"   // no authentication; tests only
)

// Pool types ([dpv] pool_type).
const (
	PoolFile = "file" // sparse files under pool_dir
	PoolLVM  = "lvm"  // thin LVs in volume_group/thin_pool
)

// Target helpers ([dpv] target_helper).
const (
	TargetTgtadm = "tgtadm" // tgtd driven by tgtadm
	TargetLioadm = "lioadm" // LIO through configfs/targetcli
)

// Config is a whole dlvm configuration file, parsed, defaulted and validated.
type Config struct {
	Default           DefaultSection           // [DEFAULT]
	Database          DatabaseSection          // [database]
	KeystoneAuthtoken KeystoneAuthtokenSection // [keystone_authtoken]
	BuiltinIdentity   BuiltinIdentitySection   // [builtin_identity]
	Backends          []BackendSection         // one per [DEFAULT] enabled_backends, in that order
	DPV               DPVSection               // [dpv]
	AllInOne          AllInOneSection          // [all_in_one]
	Nova              NovaSection              // [nova]
	Backup            BackupSection            // [backup]
	Agent             AgentSection             // [agent]

	// Warnings are messages about options that were accepted but are ignored: unknown keys
	// (typos), unknown sections, options dlvm accepts for Cinder compatibility but does not use.
	// cmd logs them at startup. They never contain option values.
	Warnings []string
}

// Backend returns the backend section named name (a name from enabled_backends).
func (c *Config) Backend(name string) (*BackendSection, bool) {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i], true
		}
	}
	return nil, false
}

// DefaultSection is [DEFAULT]: service identity, API listener, messaging, quotas and the
// defaults for volume layout and the volume manager's workflows.
type DefaultSection struct {
	Host                    string         // host: name of this node (default os.Hostname())
	MyIP                    string         // my_ip: this node's IP address
	StatePath               string         // state_path: top directory for state files
	TransportURL            string         // transport_url: inproc:// or rabbit://user:pass@host:port[,...]/vhost
	ControlExchange         string         // control_exchange: the RabbitMQ exchange, prefix of every queue name
	AuthStrategy            string         // auth_strategy: keystone, builtin or noauth
	Listen                  string         // osapi_volume_listen: API listen IP
	ListenPort              int            // osapi_volume_listen_port
	PublicEndpoint          string         // public_endpoint: base URL for links ("" = from the request)
	EnabledBackends         []string       // enabled_backends: backend section names
	DefaultVolumeType       string         // default_volume_type
	StorageAvailabilityZone string         // storage_availability_zone
	DefaultAvailabilityZone string         // default_availability_zone (defaults to StorageAvailabilityZone)
	Debug                   bool           // debug
	LogFile                 string         // log_file ("" = standard error)
	PprofListen             string         // pprof_listen: host:port serving /debug/pprof ("" = off)
	Quotas                  QuotaDefaults  // quota_* and per_volume_size_limit
	Layout                  LayoutDefaults // dlvm_default_mirrors, _stripes, _stripe_chunk_kib
	WorkflowSweepInterval   time.Duration  // workflow_sweep_interval: how often unfinished workflows are looked for
	WorkflowStaleAfter      time.Duration  // workflow_stale_after: a claimed workflow untouched this long is taken over
	MessageTTL              time.Duration  // message_ttl: how long user messages are kept (Cinder's, default 30 days)
	DPVHeartbeatInterval    time.Duration  // dpv_heartbeat_interval: how often agents report
	DPVHeartbeatTimeout     time.Duration  // dpv_heartbeat_timeout: a dpv silent this long is down
	ReportInterval          time.Duration  // report_interval: how often services heartbeat their os-services row
	ServiceDownTime         time.Duration  // service_down_time: a service silent this long is down
	LegReplaceAfter         time.Duration  // leg_replace_after: legs of a dpv silent this long are replaced (0: never)
	AgentToken              string         // agent_token: shared secret between managers and agents (see [agent] shared_secret_file)
}

// QuotaDefaults are the default per-project quotas; -1 means unlimited.
type QuotaDefaults struct {
	Volumes            int // quota_volumes
	Snapshots          int // quota_snapshots
	Gigabytes          int // quota_gigabytes
	Backups            int // quota_backups
	BackupGigabytes    int // quota_backup_gigabytes
	Groups             int // quota_groups
	PerVolumeSizeLimit int // per_volume_size_limit (GiB)
}

// LayoutDefaults are the dlv layout used when a volume type's extra specs say nothing.
type LayoutDefaults struct {
	Mirrors        int // dlvm_default_mirrors
	Stripes        int // dlvm_default_stripes
	StripeChunkKiB int // dlvm_default_stripe_chunk_kib (a power of two, >= 4)
}

// DatabaseSection is [database].
type DatabaseSection struct {
	// Connection is a Cinder/SQLAlchemy URL: mysql+pymysql://user:pass@host[:port]/db[?...],
	// mysql://..., or sqlite:///path (sqlite:////abs/path for an absolute path). Only its scheme
	// and shape are checked here; package db parses it.
	Connection  string
	MaxPoolSize int // max_pool_size: open connections cap; 0 = automatic
}

// Driver is "mysql" or "sqlite" according to Connection's scheme, "" when unrecognised.
func (d DatabaseSection) Driver() string {
	scheme, _, _ := strings.Cut(d.Connection, "://")
	switch scheme {
	case "mysql", "mysql+pymysql":
		return "mysql"
	case "sqlite":
		return "sqlite"
	}
	return ""
}

// KeystoneAuthtokenSection is [keystone_authtoken], spelled as keystonemiddleware spells it.
// Used when auth_strategy = keystone.
type KeystoneAuthtokenSection struct {
	WWWAuthenticateURI        string        // www_authenticate_uri: sent in WWW-Authenticate
	AuthURL                   string        // auth_url: Keystone for the service's own token
	AuthType                  string        // auth_type: only "password"
	Username                  string        // username
	Password                  string        // password
	ProjectName               string        // project_name
	UserDomainName            string        // user_domain_name
	ProjectDomainName         string        // project_domain_name
	RegionName                string        // region_name
	TokenCacheTime            time.Duration // token_cache_time: how long a validated token is cached
	HTTPConnectTimeout        time.Duration // http_connect_timeout
	JWSPublicKeyRepository    string        // jws_public_key_repository: directory of Keystone JWS public keys
	ServiceTokenRolesRequired bool          // service_token_roles_required
}

// BuiltinIdentitySection is [builtin_identity]: the small Keystone v3 the all-in-one mode serves
// when auth_strategy = builtin.
type BuiltinIdentitySection struct {
	Listen          string         // listen IP
	Port            int            // port
	PublicURL       string         // public_url: base URL put in the catalog ("" = http://listen:port)
	KeyFile         string         // key_file: ES256 key for JWS tokens (created when missing)
	TokenExpiration time.Duration  // token_expiration
	Users           []IdentityUser // users: name:password_or_bcrypt_hash:project:role1+role2
}

// IdentityUser is one [builtin_identity] users entry.
type IdentityUser struct {
	Name     string
	Password string // plain text, or a bcrypt hash ($2a$, $2b$ or $2y$)
	Project  string
	Roles    []string
}

// PasswordIsHash reports whether Password is a bcrypt hash rather than plain text.
func (u IdentityUser) PasswordIsHash() bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(u.Password, p) {
			return true
		}
	}
	return false
}

// BackendSection is one backend section (like a Cinder multi-backend section): one dvg as the
// scheduler sees it.
type BackendSection struct {
	Name                     string  // the section name, as listed in enabled_backends
	VolumeBackendName        string  // volume_backend_name (default: Name)
	DVGName                  string  // dvg_name (default: Name)
	AvailabilityZone         string  // availability_zone (default: storage_availability_zone)
	MaxOverSubscriptionRatio float64 // max_over_subscription_ratio (>= 1.0)
	ReservedPercentage       int     // reserved_percentage (0..100)
	ThinProvisioningSupport  bool    // thin_provisioning_support
}

// DPVSection is [dpv], read by `dlvm dpv-agent`.
type DPVSection struct {
	Name              string // name (default: host)
	DVG               string // dvg (default: the first enabled backend)
	Listen            string // listen IP of the agent API
	Port              int    // port
	AdvertiseURL      string // advertise_url (default: http://listen:port, my_ip when listen is a wildcard)
	Location          string // location: failure domain (rack, room); mirrors avoid sharing one
	PoolType          string // pool_type: file or lvm
	PoolDir           string // pool_dir (file pools)
	VolumeGroup       string // volume_group (lvm pools)
	ThinPool          string // thin_pool (lvm pools)
	TargetHelper      string // target_helper: tgtadm or lioadm
	TargetIPAddress   string // target_ip_address (default: my_ip)
	TargetPort        int    // target_port
	ISCSITargetPrefix string // iscsi_target_prefix
}

// AllInOneSection is [all_in_one].
type AllInOneSection struct {
	DPVCount    int // dpv_count: local dpvs, dealt to the enabled backends (see DPVsOf)
	DPVBasePort int // dpv_base_port: first local dpv's agent port; the others follow
	DPVSizeGB   int // dpv_size_gb: advertised capacity per local dpv; 0 = the filesystem's size
	// target_base_port: iSCSI portal (and tgtd control) port of the first local dpv's tgtd;
	// the others follow. tgtd takes control ports up to 32767.
	TargetBasePort int
}

// DPVsOf returns how many of the dpv_count local dpvs backend number k (0-based, of n enabled
// backends) runs: contiguous blocks in enabled_backends order, the first backends taking one
// more when the count does not divide (5 over 2 backends: dpv-1..3 and dpv-4..5). A backend may
// get none when there are fewer dpvs than backends.
func (a AllInOneSection) DPVsOf(k, n int) (first, count int) {
	if n <= 0 {
		return 0, 0
	}
	per, extra := a.DPVCount/n, a.DPVCount%n
	first = k*per + min(k, extra)
	count = per
	if k < extra {
		count++
	}
	return first, count
}

// NovaSection is [nova]: credentials for calling Nova (volume extend and attachment events).
type NovaSection struct {
	AuthURL           string // auth_url
	Username          string // username
	Password          string // password
	ProjectName       string // project_name
	UserDomainName    string // user_domain_name
	ProjectDomainName string // project_domain_name
	RegionName        string // region_name
	EndpointType      string // endpoint_type: public, internal or admin
}

// Configured reports whether Nova credentials are set (auth_url is given).
func (n NovaSection) Configured() bool { return n.AuthURL != "" }

// Backup drivers ([backup] backup_driver). Only the posix driver exists; the name is Cinder's, so
// export_record/import_record carry the same backup_service string as Cinder.
const BackupDriverPosix = "cinder.backup.drivers.posix.PosixBackupDriver"

// BackupSection is [backup]: where the volume manager keeps backups.
type BackupSection struct {
	Driver    string // backup_driver: only BackupDriverPosix
	PosixPath string // backup_posix_path: directory of the posix driver (default $state_path/backup)
	FileSize  int    // backup_file_size: bytes per chunk file (a multiple of 1 MiB)
	Container string // backup_container: default container (a sub-directory) when a request names none
}

// AgentSection is [agent]: how volume managers and the agents they call (dpv agents, connector
// daemons) authenticate each other. Calls are signed with a shared secret (HMAC, replay window)
// when one is set, and go over mutual TLS with the operator's CA when ca_file, cert_file and
// key_file are set; both may be used together.
type AgentSection struct {
	CAFile           string        // ca_file: CA that signs every manager's and agent's certificate
	CertFile         string        // cert_file: this process's certificate
	KeyFile          string        // key_file: its private key
	SharedSecretFile string        // shared_secret_file: file holding the shared secret (overrides [DEFAULT] agent_token)
	ReplayWindow     time.Duration // replay_window: largest clock difference accepted; nonces are kept this long
}

// MutualTLS reports whether [agent] configures mutual TLS.
func (a AgentSection) MutualTLS() bool { return a.CAFile != "" && a.CertFile != "" && a.KeyFile != "" }
