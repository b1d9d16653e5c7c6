package agent

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scxvm/scxvm/protocol"
)

// shareMount is one virtio-9p share the kernel command line names.
type shareMount struct {
	tag, dir string
	writable bool
}

// ninePOptions are the 9p mount options: the virtio transport, the Linux
// dialect, and larger messages than the kernel's default for throughput.
const ninePOptions = "trans=virtio,version=9p2000.L,msize=262144"

// parseShares returns the shares of cmdline (protocol.ShareArg), and an
// error for each malformed one.
func parseShares(cmdline string) ([]shareMount, []string) {
	var out []shareMount
	var errs []string
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, protocol.ShareArg+"=")
		if !ok {
			continue
		}
		tag, dir, rw, err := protocol.ParseShareArg(v)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, shareMount{tag: tag, dir: dir, writable: rw})
	}
	return out, errs
}

// shareMountPoint is the mount table entry of a share: read-only unless
// writable (QEMU refuses writes of a read-only share too), and never a
// source of devices or setuid programs.
func shareMountPoint(s shareMount) mountPoint {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if !s.writable {
		flags |= unix.MS_RDONLY
	}
	return mountPoint{Source: s.tag, Target: s.dir, FSType: "9p", Flags: flags, Data: ninePOptions, Required: true}
}

// mountShares mounts the shares of cmdline (after the 9p modules are
// loaded) and returns one message per share that failed, for the Hello.
func mountShares(sys system, cmdline string, logf func(string, ...any)) []string {
	shares, errs := parseShares(cmdline)
	for _, s := range shares {
		if err := mountAll(sys, []mountPoint{shareMountPoint(s)}, logf); err != nil {
			msg := fmt.Sprintf("share %s: %v", s.dir, err)
			if strings.Contains(err.Error(), "no such device") {
				msg += " (the kernel has no 9p file system or virtio transport: CONFIG_9P_FS, CONFIG_NET_9P_VIRTIO)"
			}
			errs = append(errs, msg)
			continue
		}
		logf("share %s mounted on %s (%s)", s.tag, s.dir, map[bool]string{true: "read-write", false: "read-only"}[s.writable])
	}
	for _, e := range errs {
		logf("%s", e)
	}
	return errs
}
