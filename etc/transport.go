package etc

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Transport is a parsed [DEFAULT] transport_url.
type Transport struct {
	Scheme      string          // "inproc" or "rabbit"
	Hosts       []TransportHost // rabbit: one per comma-separated host, in order
	VirtualHost string          // rabbit: the path after the hosts, unescaped; "" = the broker's default "/"
	Query       url.Values      // options after "?", as written
}

// TransportHost is one broker of a rabbit:// URL.
type TransportHost struct {
	Username string // unescaped
	Password string // unescaped
	Host     string // name or IP, without IPv6 brackets
	Port     int    // 5672 when omitted
}

// DefaultRabbitPort is used for rabbit hosts given without a port.
const DefaultRabbitPort = 5672

// ParseTransportURL parses an oslo.messaging transport URL: inproc:// (the in-process bus) or
// rabbit://[user[:pass]@]host[:port][,[user[:pass]@]host[:port]...][/vhost][?options].
// Special characters in user names, passwords and the vhost are percent-encoded. Errors never
// include credentials.
func ParseTransportURL(s string) (*Transport, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, fmt.Errorf("not a URL (want inproc:// or rabbit://user:pass@host:5672/)")
	}
	switch scheme {
	case "inproc":
		if rest != "" && rest != "/" {
			return nil, fmt.Errorf("inproc:// takes no host or path")
		}
		return &Transport{Scheme: scheme}, nil
	case "rabbit":
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want inproc:// or rabbit://)", scheme)
	}
	t := &Transport{Scheme: scheme}
	if i := strings.LastIndex(rest, "?"); i >= 0 {
		q, err := url.ParseQuery(rest[i+1:])
		if err != nil {
			return nil, fmt.Errorf("malformed options after \"?\"")
		}
		t.Query, rest = q, rest[:i]
	}
	// The vhost starts at the first "/" after the last credentials.
	from := strings.LastIndex(rest, "@") + 1
	if i := strings.Index(rest[from:], "/"); i >= 0 {
		vh, err := url.PathUnescape(rest[from+i+1:])
		if err != nil {
			return nil, fmt.Errorf("malformed virtual host")
		}
		t.VirtualHost, rest = vh, rest[:from+i]
	}
	for n, h := range strings.Split(rest, ",") {
		th, err := parseTransportHost(h)
		if err != nil {
			return nil, fmt.Errorf("host %d: %w", n+1, err)
		}
		t.Hosts = append(t.Hosts, th)
	}
	return t, nil
}

func parseTransportHost(s string) (TransportHost, error) {
	var h TransportHost
	hostport := s
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, pass, _ := strings.Cut(s[:i], ":")
		var err1, err2 error
		h.Username, err1 = url.PathUnescape(user)
		h.Password, err2 = url.PathUnescape(pass)
		if err1 != nil || err2 != nil {
			return h, fmt.Errorf("malformed percent-encoding in credentials")
		}
		hostport = s[i+1:]
	}
	port := ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return h, fmt.Errorf("unterminated IPv6 address")
		}
		h.Host, port = hostport[1:end], hostport[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return h, fmt.Errorf("garbage after IPv6 address")
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.LastIndex(hostport, ":"); i >= 0 {
		h.Host, port = hostport[:i], hostport[i+1:]
	} else {
		h.Host = hostport
	}
	if h.Host == "" {
		return h, fmt.Errorf("empty host name")
	}
	h.Port = DefaultRabbitPort
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return h, fmt.Errorf("invalid port %q", port)
		}
		h.Port = p
	}
	return h, nil
}
