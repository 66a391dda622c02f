package regcase

import (
	"fmt"
	"net"
	"time"
)

// AddrPolicy says what is kept of an anonymous caller's network address in
// audit records and request logs: a whistleblower's address must not sit
// in an immutable, widely readable record.
type AddrPolicy string

// The address policies.
const (
	// AddrNone keeps nothing (the default).
	AddrNone AddrPolicy = "none"
	// AddrPrefix keeps the network: /24 of an IPv4 address, /48 of an IPv6
	// address (e.g. 203.0.113.0/24).
	AddrPrefix AddrPolicy = "prefix"
)

// ParseAddrPolicy validates a policy name ("" means AddrNone).
func ParseAddrPolicy(s string) (AddrPolicy, error) {
	switch p := AddrPolicy(s); p {
	case "":
		return AddrNone, nil
	case AddrNone, AddrPrefix:
		return p, nil
	}
	return "", fmt.Errorf("unknown address policy %q (want none or prefix)", s)
}

// Apply returns what the policy keeps of addr: "" for AddrNone, the
// network prefix in CIDR form for AddrPrefix ("" when addr is not an IP).
func (p AddrPolicy) Apply(addr string) string {
	if p != AddrPrefix {
		return ""
	}
	ip := net.ParseIP(addr)
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		return (&net.IPNet{IP: v4.Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}).String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(48, 128)), Mask: net.CIDRMask(48, 128)}).String()
}

// DefaultIdempotencyRetention is how long an Idempotency-Key of public
// intake is answered with the original submission.
const DefaultIdempotencyRetention = 24 * time.Hour
