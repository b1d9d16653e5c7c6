package host

import (
	"fmt"
	"strings"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// Security models of QEMU's local fsdev (Plan.ShareModel).
const (
	// ShareModelNone is for a host user that is not root: files are
	// accessed and created as that user, and ownership changes the user
	// cannot make are silently ignored (passthrough would fail them).
	ShareModelNone = "none"
	// ShareModelPassthrough is for root: the guest sees the files as
	// they are (owners, modes, symlinks as symlinks). Of a writable
	// share, the guest's root may then set owners and modes, setuid bits
	// included, of files inside it, as root could on the host. (mapped-xattr
	// would keep those in extended attributes instead, but it reads
	// the host's own symlinks as files and fails them with ELOOP, which
	// breaks every tree with a symlink.)
	ShareModelPassthrough = "passthrough"
)

// ShareModel returns the fsdev security model for a host user: root (euid
// 0) or not.
func ShareModel(root bool) string {
	if root {
		return ShareModelPassthrough
	}
	return ShareModelNone
}

// qemuOptValue escapes a value for QEMU's option syntax, where a comma
// ends the value unless doubled: a directory named "a,readonly=off" must
// stay one path.
func qemuOptValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// shareArgs are the -fsdev and -device arguments of cfg's shares.
//
// The share is QEMU's local fsdev on the directory as given. What keeps
// the guest inside it is QEMU's local backend (QEMU 2.9 and later): it
// opens every path component relative to the share's root with
// O_NOFOLLOW and does not walk ".." above the root, so a symlink in the
// share is handed to the guest as a symlink, which the guest kernel
// resolves in the guest's own file system, never on the host.
// readonly=on makes QEMU refuse every write of a read-only share,
// whatever the guest mounts.
func shareArgs(cfg Config, plan Plan) []string {
	model := plan.ShareModel
	if model == "" {
		model = ShareModelNone
	}
	var a []string
	for i, s := range cfg.Shares {
		fsdev := fmt.Sprintf("local,id=fsdev%d,path=%s,security_model=%s", i, qemuOptValue(s.HostDir), model)
		if !s.Writable {
			fsdev += ",readonly=on"
		}
		a = append(a,
			"-fsdev", fsdev,
			"-device", fmt.Sprintf("virtio-9p-pci,fsdev=fsdev%d,mount_tag=%s", i, protocol.ShareTag(i)))
	}
	return a
}

// shareCmdline are the kernel arguments telling the agent where to mount
// cfg's shares.
func shareCmdline(shares []spec.Share) []string {
	var a []string
	for i, s := range shares {
		a = append(a, protocol.FormatShareArg(protocol.ShareTag(i), s.GuestDir, s.Writable))
	}
	return a
}

// validateShares checks what Start needs of cfg.Shares: an absolute host
// directory and guest directory each (vmtest resolves the defaults).
func validateShares(shares []spec.Share) error {
	if len(shares) > spec.MaxShares {
		return fmt.Errorf("config: %d shares, at most %d", len(shares), spec.MaxShares)
	}
	for _, s := range shares {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if !strings.HasPrefix(s.HostDir, "/") || !strings.HasPrefix(s.GuestDir, "/") {
			return fmt.Errorf("config: share %s: host and guest directories must be absolute", s)
		}
	}
	return nil
}
