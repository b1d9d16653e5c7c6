package spec

import (
	"fmt"
	"path"
	"strings"
)

// Share is a host directory shared into the guest (QEMU's virtio-9p),
// as `--share HOST_DIR[=GUEST_DIR][:rw]` names it.
type Share struct {
	// HostDir is the host directory. Only what is below it is reachable
	// from the guest: a symlink inside the share is resolved by the guest
	// kernel in the guest's file system, never on the host.
	HostDir string `json:"host_dir"`
	// GuestDir is where the guest mounts it, an absolute path; empty
	// means the host directory's absolute path.
	GuestDir string `json:"guest_dir,omitempty"`
	// Writable lets the guest write; the default is read-only, enforced
	// by QEMU (readonly=on) and by a read-only mount in the guest.
	Writable bool `json:"writable,omitempty"`
}

// MaxShares bounds the shares of one guest (one PCI device each).
const MaxShares = 16

// ParseShare reads HOST_DIR[=GUEST_DIR][:rw|:ro]. The mode suffix is only
// taken as one when it ends the argument, so a directory whose name
// contains a colon elsewhere still parses.
func ParseShare(s string) (Share, error) {
	var sh Share
	rest := s
	if r, ok := strings.CutSuffix(rest, ":rw"); ok {
		rest, sh.Writable = r, true
	} else if r, ok := strings.CutSuffix(rest, ":ro"); ok {
		rest = r
	}
	host, guest, hasGuest := strings.Cut(rest, "=")
	if host == "" {
		return Share{}, fmt.Errorf("share %q: want HOST_DIR[=GUEST_DIR][:rw]", s)
	}
	if hasGuest && guest == "" {
		return Share{}, fmt.Errorf("share %q: empty guest directory after '='", s)
	}
	sh.HostDir, sh.GuestDir = host, guest
	if err := sh.Validate(); err != nil {
		return Share{}, err
	}
	return sh, nil
}

// reservedGuestDirs are the guest's own file systems; a share mounted on
// or below them would hide what the guest needs.
var reservedGuestDirs = []string{"/proc", "/sys", "/dev"}

// Validate checks the share's form (not that HostDir exists: that takes
// the file system).
func (s Share) Validate() error {
	if s.HostDir == "" {
		return fmt.Errorf("share: no host directory")
	}
	if s.GuestDir == "" {
		return nil
	}
	g := s.GuestDir
	if !path.IsAbs(g) {
		return fmt.Errorf("share %s: guest directory %q is not absolute", s.HostDir, g)
	}
	if path.Clean(g) == "/" {
		return fmt.Errorf("share %s: cannot mount over the guest's root", s.HostDir)
	}
	for _, r := range reservedGuestDirs {
		if c := path.Clean(g); c == r || strings.HasPrefix(c, r+"/") {
			return fmt.Errorf("share %s: guest directory %s is inside the guest's %s", s.HostDir, g, r)
		}
	}
	return nil
}

// String formats s as ParseShare reads it.
func (s Share) String() string {
	out := s.HostDir
	if s.GuestDir != "" {
		out += "=" + s.GuestDir
	}
	if s.Writable {
		out += ":rw"
	}
	return out
}
