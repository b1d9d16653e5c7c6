package vmtest

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/scxvm/scxvm/kernel/fetch"
	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// ninePModules are the modules a kernel with 9p as modules needs for a
// share (kernel/fetch takes them with their dependencies), in no order:
// the cache's order file has them after what they depend on.
var ninePModules = map[string]bool{"9p": true, "9pnet": true, "9pnet_virtio": true, "netfs": true}

// moduleName is a module file's name without directory and .ko.
func moduleName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".ko")
}

// selectModules returns the modules of mods (in their load order) an
// image needs: the vsock transport's when vsock is set, the 9p ones when
// shares is set.
func selectModules(mods []string, vsock, shares bool) []string {
	var out []string
	for _, m := range mods {
		if ninePModules[moduleName(m)] {
			if shares {
				out = append(out, m)
			}
		} else if vsock {
			out = append(out, m)
		}
	}
	return out
}

// resolvedShares is shares() after validate passed.
func (c *Config) resolvedShares() []spec.Share {
	sh, _ := c.shares()
	return sh
}

// checkShares fails, before anything boots, when cfg has shares and the
// kernel cannot mount them: its configuration has no 9p file system or
// no virtio transport for it, or has them as modules the cache does not
// hold. A kernel without a readable configuration is tried (the agent
// reports a failed mount).
func (g *guest) checkShares(cfg *Config) error {
	if len(cfg.Shares) == 0 || g.info == nil || g.info.Config == nil {
		return nil
	}
	have := map[string]bool{}
	for _, m := range g.kernel.Modules {
		have[moduleName(m)] = true
	}
	for _, opt := range []struct{ name, module string }{{"CONFIG_9P_FS", "9p"}, {"CONFIG_NET_9P_VIRTIO", "9pnet_virtio"}} {
		switch g.info.Config.Get(opt.name) {
		case "y":
		case "m":
			if !have[opt.module] {
				hint := "build it in (" + opt.name + "=y)"
				if g.kernel.Name == fetch.Debian {
					hint = "its cache entry predates the 9p modules: run `scxvm kernel fetch " + g.kernel.Name + "` (make kernel), which fetches them"
				}
				return &ConfigError{Field: "share", Msg: fmt.Sprintf("kernel %s has %s=m and no %s.ko beside it: %s", g.kernel.Name, opt.name, opt.module, hint)}
			}
		default:
			return &ConfigError{Field: "share", Msg: fmt.Sprintf("kernel %s cannot mount shares: %s is not set (shares need CONFIG_9P_FS and CONFIG_NET_9P_VIRTIO)", g.kernel.Name, opt.name)}
		}
	}
	return nil
}

// shareErrors is the agent's report of shares it could not mount, as an
// error.
func shareErrors(h *protocol.Hello) error {
	if len(h.ShareErrors) == 0 {
		return nil
	}
	return &ConfigError{Field: "share", Msg: "the guest could not mount it: " + strings.Join(h.ShareErrors, "; ")}
}
