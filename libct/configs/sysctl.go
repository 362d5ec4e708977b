package configs

import "strings"

// SysctlPath turns a sysctl name into its path under /proc/sys, or back:
// in the dotted form (Config.Sysctl's keys) dots separate directories and
// a slash stands for a dot inside a name (net.ipv4.conf.eth0/100.rp_filter
// is net/ipv4/conf/eth0.100/rp_filter), as sysctl(8) writes them. Swapping
// '.' and '/' is its own inverse, so the same function also turns sysctl's
// slash form into the dotted one. It is the one place hull computes this.
func SysctlPath(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}
