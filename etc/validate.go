package etc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Validate checks every section and returns all problems at once, joined; each is an
// *OptionError naming the section, the key and what is wrong. It does not fill derived
// defaults: Parse and Default have done that. Load and Parse call it.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateDefault(v)
	c.validateDatabase(v)
	c.validateKeystone(v)
	c.validateBuiltin(v)
	c.validateBackends(v)
	c.validateDPV(v)
	c.validateAllInOne(v)
	c.validateNova(v)
	c.validateBackup(v)
	c.validateAgent(v)
	return errors.Join(v.errs...)
}

// ValidateDPVAgent adds the checks that only matter to `dlvm dpv-agent`: the agent must know
// its dvg, and an agent listening beyond loopback must have an agent_token.
func (c *Config) ValidateDPVAgent() error {
	v := &validator{}
	if c.DPV.DVG == "" {
		v.add(secDPV, "dvg", "required by the dpv agent (or set [DEFAULT] enabled_backends)")
	}
	if ip := net.ParseIP(c.DPV.Listen); ip != nil && !ip.IsLoopback() && c.Default.AgentToken == "" &&
		c.Agent.SharedSecretFile == "" && !c.Agent.MutualTLS() {
		v.add(secDefault, "agent_token", "required when [dpv] listen is not a loopback address (or set [agent] shared_secret_file, or ca_file, cert_file and key_file)")
	}
	return errors.Join(append(v.errs, c.Validate())...)
}

type validator struct{ errs []error }

func (v *validator) add(section, key, format string, args ...any) {
	v.errs = append(v.errs, optErr(section, key, format, args...))
}

func (v *validator) ip(section, key, val string) {
	if net.ParseIP(val) == nil {
		v.add(section, key, "invalid IP address %q", val)
	}
}

func (v *validator) port(section, key string, p int) {
	if p < 1 || p > 65535 {
		v.add(section, key, "invalid port %d (want 1..65535)", p)
	}
}

// httpURL checks an absolute http(s) URL; "" passes unless required.
func (v *validator) httpURL(section, key, val string, required bool) {
	if val == "" {
		if required {
			v.add(section, key, "required")
		}
		return
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(section, key, "invalid URL %q (want http:// or https://host[:port][/path])", val)
	}
}

func (v *validator) required(section, key, val string) {
	if val == "" {
		v.add(section, key, "required")
	}
}

func (v *validator) positive(section, key string, d time.Duration) {
	if d <= 0 {
		v.add(section, key, "must be positive")
	}
}

func (v *validator) oneOf(section, key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(section, key, "unsupported value %q (want %s)", val, orList(allowed))
}

// orList is "a, b or c".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func (c *Config) validateDefault(v *validator) {
	const s = secDefault
	d := &c.Default
	v.required(s, "host", d.Host)
	v.ip(s, "my_ip", d.MyIP)
	if !filepath.IsAbs(d.StatePath) {
		v.add(s, "state_path", "must be an absolute path, got %q", d.StatePath)
	}
	if _, err := ParseTransportURL(d.TransportURL); err != nil {
		v.add(s, "transport_url", "%v", err)
	}
	v.required(s, "control_exchange", d.ControlExchange)
	v.oneOf(s, "auth_strategy", d.AuthStrategy, AuthKeystone, AuthBuiltin, AuthNoAuth)
	v.ip(s, "osapi_volume_listen", d.Listen)
	v.port(s, "osapi_volume_listen_port", d.ListenPort)
	v.httpURL(s, "public_endpoint", d.PublicEndpoint, false)

	seen := map[string]bool{}
	for _, name := range d.EnabledBackends {
		switch {
		case name == "" || strings.ContainsAny(name, "[]"):
			v.add(s, "enabled_backends", "invalid backend name %q", name)
		case isFixedSection(name):
			v.add(s, "enabled_backends", "%q is a dlvm section, not a backend", name)
		case seen[name]:
			v.add(s, "enabled_backends", "backend %q listed twice", name)
		default:
			if _, ok := c.Backend(name); !ok {
				v.add(s, "enabled_backends", "no [%s] section for enabled backend %q", name, name)
			}
		}
		seen[name] = true
	}
	for _, b := range c.Backends {
		if !seen[b.Name] {
			v.add(b.Name, "", "backend section is not in [DEFAULT] enabled_backends")
		}
	}

	v.required(s, "default_volume_type", d.DefaultVolumeType)
	v.required(s, "storage_availability_zone", d.StorageAvailabilityZone)
	v.required(s, "default_availability_zone", d.DefaultAvailabilityZone)

	q := d.Quotas
	for _, qv := range []struct {
		key string
		n   int
	}{
		{"quota_volumes", q.Volumes}, {"quota_snapshots", q.Snapshots}, {"quota_gigabytes", q.Gigabytes},
		{"quota_backups", q.Backups}, {"quota_backup_gigabytes", q.BackupGigabytes}, {"quota_groups", q.Groups},
	} {
		if qv.n < -1 {
			v.add(s, qv.key, "invalid quota %d (want -1 for unlimited, or >= 0)", qv.n)
		}
	}
	if q.PerVolumeSizeLimit < -1 || q.PerVolumeSizeLimit == 0 {
		v.add(s, "per_volume_size_limit", "invalid limit %d (want -1 for unlimited, or a size in GiB)", q.PerVolumeSizeLimit)
	}

	l := d.Layout
	if l.Mirrors < 1 {
		v.add(s, "dlvm_default_mirrors", "must be at least 1, got %d", l.Mirrors)
	}
	if l.Stripes < 1 {
		v.add(s, "dlvm_default_stripes", "must be at least 1, got %d", l.Stripes)
	}
	if l.StripeChunkKiB < 4 || l.StripeChunkKiB&(l.StripeChunkKiB-1) != 0 {
		v.add(s, "dlvm_default_stripe_chunk_kib", "must be a power of two >= 4, got %d", l.StripeChunkKiB)
	}

	v.positive(s, "workflow_sweep_interval", d.WorkflowSweepInterval)
	v.positive(s, "workflow_stale_after", d.WorkflowStaleAfter)
	v.positive(s, "message_ttl", d.MessageTTL)
	if d.WorkflowSweepInterval > 0 && d.WorkflowStaleAfter > 0 && d.WorkflowStaleAfter <= d.WorkflowSweepInterval {
		v.add(s, "workflow_stale_after", "must be longer than workflow_sweep_interval (%s <= %s)",
			secs(d.WorkflowStaleAfter), secs(d.WorkflowSweepInterval))
	}
	v.positive(s, "dpv_heartbeat_interval", d.DPVHeartbeatInterval)
	v.positive(s, "dpv_heartbeat_timeout", d.DPVHeartbeatTimeout)
	if d.DPVHeartbeatInterval > 0 && d.DPVHeartbeatTimeout > 0 && d.DPVHeartbeatTimeout <= d.DPVHeartbeatInterval {
		v.add(s, "dpv_heartbeat_timeout", "must be longer than dpv_heartbeat_interval (%s <= %s)",
			secs(d.DPVHeartbeatTimeout), secs(d.DPVHeartbeatInterval))
	}
	v.positive(s, "report_interval", d.ReportInterval)
	v.positive(s, "service_down_time", d.ServiceDownTime)
	if d.ReportInterval > 0 && d.ServiceDownTime > 0 && d.ServiceDownTime <= d.ReportInterval {
		v.add(s, "service_down_time", "must be longer than report_interval (%s <= %s)",
			secs(d.ServiceDownTime), secs(d.ReportInterval))
	}
	if d.LegReplaceAfter < 0 || d.LegReplaceAfter > 0 && d.LegReplaceAfter < d.DPVHeartbeatTimeout {
		v.add(s, "leg_replace_after", "must be 0 (never) or at least dpv_heartbeat_timeout (%s < %s)",
			secs(d.LegReplaceAfter), secs(d.DPVHeartbeatTimeout))
	}
}

// secs formats a duration the way the file spells it.
func secs(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func (c *Config) validateDatabase(v *validator) {
	const s = secDatabase
	if err := checkConnection(c.Database.Connection); err != nil {
		v.add(s, "connection", "%v", err)
	}
	if c.Database.MaxPoolSize < 0 {
		v.add(s, "max_pool_size", "must be >= 0 (0 = automatic), got %d", c.Database.MaxPoolSize)
	}
}

// checkConnection checks a Cinder database URL's scheme and shape; errors never echo it (it
// holds a password).
func checkConnection(conn string) error {
	const want = "want mysql+pymysql://, mysql:// or sqlite:///"
	if conn == "" {
		return fmt.Errorf("required (e.g. mysql+pymysql://dlvm:password@controller/dlvm)")
	}
	scheme, rest, ok := strings.Cut(conn, "://")
	if !ok {
		return fmt.Errorf("not a URL (%s)", want)
	}
	switch scheme {
	case "sqlite":
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return fmt.Errorf("missing database path (want sqlite:///relative/path or sqlite:////absolute/path)")
		}
		return nil
	case "mysql", "mysql+pymysql":
		rest, _, _ = strings.Cut(rest, "?")
		from := strings.LastIndex(rest, "@") + 1
		host, db, _ := strings.Cut(rest[from:], "/")
		if host == "" {
			return fmt.Errorf("missing host (want %s://user:password@host[:port]/database)", scheme)
		}
		if db == "" {
			return fmt.Errorf("missing database name (want %s://user:password@host[:port]/database)", scheme)
		}
		return nil
	}
	return fmt.Errorf("unsupported scheme %q (%s)", scheme, want)
}

func (c *Config) validateKeystone(v *validator) {
	const s = secKeystone
	k := &c.KeystoneAuthtoken
	keystone := c.Default.AuthStrategy == AuthKeystone
	v.httpURL(s, "auth_url", k.AuthURL, keystone)
	v.httpURL(s, "www_authenticate_uri", k.WWWAuthenticateURI, false)
	v.oneOf(s, "auth_type", k.AuthType, "password")
	if keystone {
		v.required(s, "username", k.Username)
		v.required(s, "password", k.Password)
		v.required(s, "project_name", k.ProjectName)
	}
	if k.TokenCacheTime < 0 {
		v.add(s, "token_cache_time", "must not be negative")
	}
	v.positive(s, "http_connect_timeout", k.HTTPConnectTimeout)
}

func (c *Config) validateBuiltin(v *validator) {
	const s = secBuiltin
	b := &c.BuiltinIdentity
	v.ip(s, "listen", b.Listen)
	v.port(s, "port", b.Port)
	v.httpURL(s, "public_url", b.PublicURL, false)
	v.required(s, "key_file", b.KeyFile)
	v.positive(s, "token_expiration", b.TokenExpiration)
	if c.Default.AuthStrategy == AuthBuiltin && len(b.Users) == 0 {
		v.add(s, "users", "at least one user is required when auth_strategy = builtin")
	}
	seen := map[string]bool{}
	for i, u := range b.Users {
		if seen[u.Name] {
			v.add(s, "users", "entry %d: user %q defined twice", i+1, u.Name)
		}
		seen[u.Name] = true
	}
}

func (c *Config) validateBackends(v *validator) {
	for _, b := range c.Backends {
		v.required(b.Name, "volume_backend_name", b.VolumeBackendName)
		v.required(b.Name, "dvg_name", b.DVGName)
		v.required(b.Name, "availability_zone", b.AvailabilityZone)
		if b.MaxOverSubscriptionRatio < 1.0 {
			v.add(b.Name, "max_over_subscription_ratio", "must be >= 1.0, got %g", b.MaxOverSubscriptionRatio)
		}
		if b.ReservedPercentage < 0 || b.ReservedPercentage > 100 {
			v.add(b.Name, "reserved_percentage", "must be 0..100, got %d", b.ReservedPercentage)
		}
	}
}

func (c *Config) validateDPV(v *validator) {
	const s = secDPV
	p := &c.DPV
	v.required(s, "name", p.Name)
	v.ip(s, "listen", p.Listen)
	v.port(s, "port", p.Port)
	v.httpURL(s, "advertise_url", p.AdvertiseURL, true)
	v.oneOf(s, "pool_type", p.PoolType, PoolFile, PoolLVM)
	switch p.PoolType {
	case PoolFile:
		v.required(s, "pool_dir", p.PoolDir)
	case PoolLVM:
		if p.VolumeGroup == "" {
			v.add(s, "volume_group", "required when pool_type = lvm")
		}
		if p.ThinPool == "" {
			v.add(s, "thin_pool", "required when pool_type = lvm")
		}
	}
	v.oneOf(s, "target_helper", p.TargetHelper, TargetTgtadm, TargetLioadm)
	v.ip(s, "target_ip_address", p.TargetIPAddress)
	v.port(s, "target_port", p.TargetPort)
	if !strings.HasPrefix(p.ISCSITargetPrefix, "iqn.") && !strings.HasPrefix(p.ISCSITargetPrefix, "eui.") ||
		strings.ContainsAny(p.ISCSITargetPrefix, " \t") {
		v.add(s, "iscsi_target_prefix", "invalid prefix %q (want iqn.yyyy-mm.reverse.domain:)", p.ISCSITargetPrefix)
	}
}

func (c *Config) validateAllInOne(v *validator) {
	const s = secAllInOne
	a := &c.AllInOne
	if a.DPVCount < 1 {
		v.add(s, "dpv_count", "must be at least 1, got %d", a.DPVCount)
	}
	if a.DPVBasePort < 1 || a.DPVBasePort+max(a.DPVCount, 1)-1 > 65535 {
		v.add(s, "dpv_base_port", "ports %d..%d out of range 1..65535", a.DPVBasePort, a.DPVBasePort+max(a.DPVCount, 1)-1)
	}
	if a.DPVSizeGB < 0 {
		v.add(s, "dpv_size_gb", "must be >= 0 (0 = the filesystem's size), got %d", a.DPVSizeGB)
	}
	if a.TargetBasePort < 1 || a.TargetBasePort+max(a.DPVCount, 1)-1 > 32767 {
		v.add(s, "target_base_port", "ports %d..%d out of range 1..32767 (tgtd's control ports)", a.TargetBasePort, a.TargetBasePort+max(a.DPVCount, 1)-1)
	}
}

func (c *Config) validateNova(v *validator) {
	const s = secNova
	n := &c.Nova
	v.oneOf(s, "endpoint_type", n.EndpointType, "public", "internal", "admin")
	if !n.Configured() {
		return
	}
	v.httpURL(s, "auth_url", n.AuthURL, true)
	v.required(s, "username", n.Username)
	v.required(s, "password", n.Password)
	v.required(s, "project_name", n.ProjectName)
}

func (c *Config) validateBackup(v *validator) {
	const s = secBackup
	b := &c.Backup
	v.oneOf(s, "backup_driver", b.Driver, BackupDriverPosix)
	v.required(s, "backup_posix_path", b.PosixPath)
	if b.FileSize < 1<<20 || b.FileSize%(1<<20) != 0 {
		v.add(s, "backup_file_size", "must be a positive multiple of 1048576, got %d", b.FileSize)
	}
	if b.Container == "" || strings.ContainsAny(b.Container, "/\\") || strings.HasPrefix(b.Container, ".") {
		v.add(s, "backup_container", "must be a plain directory name, got %q", b.Container)
	}
}

func (c *Config) validateAgent(v *validator) {
	a := c.Agent
	set := 0
	for _, f := range []string{a.CAFile, a.CertFile, a.KeyFile} {
		if f != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		v.add(secAgent, "ca_file", "ca_file, cert_file and key_file go together (mutual TLS)")
	}
	if a.ReplayWindow < 0 {
		v.add(secAgent, "replay_window", "must not be negative")
	}
}
